/* descent — signal propagation in deep random networks (mean-field theory), the theory behind
 * critical initialisation (ds_init DS_INIT_MEANFIELD) and normalizer-free gains.
 *
 * For a fully connected network with activation phi, weights N(0, sigma_w^2 / fan_in) and biases
 * N(0, sigma_b^2), the pre-activation variance follows the length map
 *     q_{l+1} = sigma_w^2 E_z[phi(sqrt(q_l) z)^2] + sigma_b^2,         z ~ N(0, 1)
 * with fixed point q*, and the correlation of two inputs follows the correlation map with fixed
 * point c*. chi_1 = sigma_w^2 E[phi'(sqrt(q*) z)^2] separates the ordered phase (chi_1 < 1: inputs
 * collapse together) from the chaotic phase (chi_1 > 1); chi_1 = 1 is the critical line ("edge of
 * chaos") where signals propagate through depth (Poole et al. 2016, Schoenholz et al. 2017,
 * Pennington et al. 2017). Expectations are Gauss-Hermite quadratures. */
#ifndef DESCENT_MEANFIELD_H
#define DESCENT_MEANFIELD_H
#include "error.h"
#include "export.h"
#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

/* One point (sigma_w, sigma_b) of the phase diagram of an activation. */
typedef struct {
  double sigma_w, sigma_b;
  double q_star; /* fixed point of the length map; INFINITY where it diverges */
  double chi1;   /* sigma_w^2 E[phi'(sqrt(q*) z)^2]: slope of the correlation map at c = 1 */
  double c_star; /* fixed point of the correlation map: 1 in the ordered phase, < 1 if chaotic */
  double chi_c;  /* slope of the correlation map at c*: sigma_w^2 E[phi'(u1) phi'(u2)] */
  double xi_q;   /* depth scale of the length map, -1 / ln(chi1 + sigma_w^2 E[phi'' phi]) */
  double
      xi_c; /* correlation depth scale, -1 / ln(chi_c) (Schoenholz eq. 9); INFINITY at chi_c = 1 */
} ds_meanfield;

/* Evaluates the mean-field quantities at (sigma_w, sigma_b) for act. sigma_w > 0, sigma_b >= 0. */
ds_status ds_meanfield_eval(ds_act act, double sigma_w, double sigma_b, ds_meanfield *out);

/* Critical initialisation: the sigma_w with chi1 = 1 at the given sigma_b (bisection on sigma_w in
 * [0.05, 50]), and the quantities there. ReLU: sigma_w = sqrt(2) for every sigma_b (q* finite only
 * for sigma_b = 0). DS_EINVAL naming the activation if no critical point exists in the range. */
ds_status ds_meanfield_critical(ds_act act, double sigma_b, ds_meanfield *out);

/* Gaussian expectation E_z[f(sqrt(q) z)] of phi (k = 0), phi^2 (k = 1), phi'^2 (k = 2) for act,
 * by Gauss-Hermite quadrature. For tests and plots. */
double ds_meanfield_expect(ds_act act, int k, double q);

/* The activation gain of normalizer-free networks, gamma = 1 / std(phi(z)) for z ~ N(0, 1) (NFNet
 * reference: relu 1.7139, gelu 1.7015, tanh 1.5939, estimated there by sampling). */
double ds_act_nf_gamma(ds_act act);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif

/* Mean-field signal propagation: length and correlation maps, chi_1, depth scales, critical
 * sigma_w. Expectations over z ~ N(0, 1) by Gauss-Hermite quadrature:
 *     E[f(z)] = pi^-1/2 sum_i w_i f(sqrt(2) x_i)   (nodes x_i, weights w_i for exp(-x^2)).
 * Nodes come from Newton's method on the orthonormal Hermite recurrence (Numerical Recipes'
 * gauher), computed per call (no global state). An even node count keeps x = 0 off the grid, so
 * the ReLU integrals (kinks at 0) come out exact by symmetry. */
#include <math.h>
#include <string.h>

#include "descent/alloc.h"
#include "descent/meanfield.h"

#define N1                                                                                         \
  160         /* nodes of the 1-D rule (the recurrence overflows past ~190): centre spacing 0.12   \
               */
#define N2 64 /* nodes per axis of the 2-D rule (correlation map) */

typedef struct {
  int n;
  double z[N1], w[N1]; /* z = sqrt(2) x, w normalised to sum 1 */
} gh_rule;

static void gh_init(gh_rule *r, int n) {
  const double pim4 = 0.7511255444649425; /* pi^-1/4 */
  double x = 0, pp = 0, xs[N1], ws[N1];
  int m = (n + 1) / 2;
  for (int i = 0; i < m; i++) {
    if (i == 0)
      x = sqrt(2.0 * n + 1) - 1.85575 * pow(2.0 * n + 1, -0.16667);
    else if (i == 1)
      x -= 1.14 * pow((double)n, 0.426) / x;
    else if (i == 2)
      x = 1.86 * x - 0.86 * xs[0];
    else if (i == 3)
      x = 1.91 * x - 0.91 * xs[1];
    else
      x = 2.0 * x - xs[i - 2];
    for (int it = 0; it < 100; it++) {
      double p1 = pim4, p2 = 0;
      for (int j = 0; j < n; j++) {
        double p3 = p2;
        p2 = p1;
        p1 = x * sqrt(2.0 / (j + 1)) * p2 - sqrt((double)j / (j + 1)) * p3;
      }
      pp = sqrt(2.0 * n) * p2;
      double x1 = x;
      x = x1 - p1 / pp;
      if (fabs(x - x1) <= 3e-14) break;
    }
    xs[i] = x;
    ws[i] = 2.0 / (pp * pp);
  }
  r->n = n;
  for (int i = 0; i < m; i++) {
    double w = ws[i] / sqrt(M_PI);
    r->z[i] = sqrt(2.0) * xs[i];
    r->w[i] = w;
    r->z[n - 1 - i] = -sqrt(2.0) * xs[i];
    r->w[n - 1 - i] = w;
  }
}

/* phi, phi', phi'' of each activation (leaky_relu slope 0.01 as ds_nn_act). */
static void act_eval(ds_act a, double x, double *f, double *d1, double *d2) {
  switch (a) {
  case DS_ACT_RELU:
    *f = x > 0 ? x : 0;
    *d1 = x > 0 ? 1 : 0;
    *d2 = 0;
    return;
  case DS_ACT_LEAKY_RELU:
    *f = x > 0 ? x : 0.01 * x;
    *d1 = x > 0 ? 1 : 0.01;
    *d2 = 0;
    return;
  case DS_ACT_TANH: {
    double t = tanh(x);
    *f = t;
    *d1 = 1 - t * t;
    *d2 = -2 * t * (1 - t * t);
    return;
  }
  case DS_ACT_SIGMOID: {
    double s = 1 / (1 + exp(-x));
    *f = s;
    *d1 = s * (1 - s);
    *d2 = s * (1 - s) * (1 - 2 * s);
    return;
  }
  case DS_ACT_GELU: {
    double pdf = exp(-0.5 * x * x) / sqrt(2 * M_PI), cdf = 0.5 * erfc(-x / sqrt(2.0));
    *f = x * cdf;
    *d1 = cdf + x * pdf;
    *d2 = pdf * (2 - x * x);
    return;
  }
  case DS_ACT_IDENTITY:
  default:
    *f = x;
    *d1 = 1;
    *d2 = 0;
    return;
  }
}

/* E[phi(sqrt(q) z)^2], E[phi'^2], E[phi'' phi] and E[phi] in one pass. */
typedef struct {
  double f, f2, d1sq, d2f;
} moments;
static moments expect(const gh_rule *r, ds_act a, double q) {
  moments m = {0, 0, 0, 0};
  if (a == DS_ACT_RELU || a == DS_ACT_LEAKY_RELU || a == DS_ACT_IDENTITY) {
    /* piecewise linear, phi(x) = x (x > 0), s x (x < 0): closed forms */
    double sl = a == DS_ACT_RELU ? 0.0 : a == DS_ACT_LEAKY_RELU ? 0.01 : 1.0;
    m.f = sqrt(q) * (1 - sl) / sqrt(2 * M_PI);
    m.f2 = q * (1 + sl * sl) / 2;
    m.d1sq = (1 + sl * sl) / 2;
    return m;
  }
  double s = sqrt(q);
  for (int i = 0; i < r->n; i++) {
    double f, d1, d2;
    act_eval(a, s * r->z[i], &f, &d1, &d2);
    m.f += r->w[i] * f;
    m.f2 += r->w[i] * f * f;
    m.d1sq += r->w[i] * d1 * d1;
    m.d2f += r->w[i] * d2 * f;
  }
  return m;
}

double ds_meanfield_expect(ds_act act, int k, double q) {
  gh_rule r;
  gh_init(&r, N1);
  moments m = expect(&r, act, q);
  return k == 0 ? m.f : k == 1 ? m.f2 : m.d1sq;
}

double ds_act_nf_gamma(ds_act act) {
  gh_rule r;
  gh_init(&r, N1);
  moments m = expect(&r, act, 1.0);
  return 1.0 / sqrt(m.f2 - m.f * m.f);
}

/* Fixed point of the length map from q = 1 (a contraction for bounded phi); INFINITY if it
 * grows without bound. For ReLU at sigma_w^2 = 2, sigma_b = 0 every q is fixed and q = 1 stays. */
static double length_fixed_point(const gh_rule *r, ds_act a, double sw, double sb) {
  if (a == DS_ACT_RELU || a == DS_ACT_LEAKY_RELU || a == DS_ACT_IDENTITY) {
    /* linear map q -> sw^2 m2 q + sb^2 with m2 = E[phi(z)^2] */
    double k = sw * sw * expect(r, a, 1.0).f2;
    if (fabs(k - 1) < 1e-12) return sb == 0 ? 1.0 : INFINITY; /* critical: any q / growing */
    return k < 1 ? sb * sb / (1 - k) : INFINITY;
  }
  double q = 1.0;
  for (int it = 0; it < 5000; it++) {
    double qn = sw * sw * expect(r, a, q).f2 + sb * sb;
    if (!(qn < 1e12)) return INFINITY;
    if (fabs(qn - q) <= 1e-13 * (q > 1 ? q : 1)) return qn;
    q = qn;
  }
  return q; /* slow (critical) convergence: the last iterate */
}

/* sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2 (value) and sigma_w^2 E[phi'(u1) phi'(u2)] (slope) with
 * u1 = sqrt(q) z1, u2 = sqrt(q) (c z1 + sqrt(1 - c^2) z2). */
static void corr_map(const gh_rule *r, ds_act a, double q, double c, double sw, double sb,
                     double *val, double *slope) {
  double s = sqrt(q), sc = sqrt(fmax(0.0, 1 - c * c)), e = 0, d = 0;
  for (int i = 0; i < r->n; i++) {
    double f1, g1, h1;
    act_eval(a, s * r->z[i], &f1, &g1, &h1);
    for (int j = 0; j < r->n; j++) {
      double f2, g2, h2;
      act_eval(a, s * (c * r->z[i] + sc * r->z[j]), &f2, &g2, &h2);
      e += r->w[i] * r->w[j] * f1 * f2;
      d += r->w[i] * r->w[j] * g1 * g2;
    }
  }
  *val = sw * sw * e + sb * sb;
  *slope = sw * sw * d;
}

static double depth_scale(double slope) {
  if (!(slope > 0)) return 0;
  if (slope >= 1) return INFINITY;
  return -1.0 / log(slope);
}

static ds_status eval_with(const gh_rule *r, const gh_rule *r2, ds_act a, double sw, double sb,
                           ds_meanfield *o) {
  memset(o, 0, sizeof *o);
  o->sigma_w = sw;
  o->sigma_b = sb;
  double q = length_fixed_point(r, a, sw, sb);
  o->q_star = q;
  /* where q* diverges (ReLU-like, chaotic), the slopes are those of the last finite q */
  double qe = isfinite(q) ? q : 1e12;
  moments m = expect(r, a, qe);
  o->chi1 = sw * sw * m.d1sq;
  o->xi_q = depth_scale(o->chi1 + sw * sw * m.d2f);
  if (o->chi1 <= 1.0 + 1e-9 || !isfinite(q) ||
      q <= 0) { /* ordered phase: c* = 1 is the attractor */
    o->c_star = 1.0;
    o->chi_c = o->chi1;
  } else {
    double c = 0.5, val = 0, slope = 0;
    for (int it = 0; it < 300; it++) {
      corr_map(r2, a, q, c, sw, sb, &val, &slope);
      double cn = val / q;
      if (cn > 1) cn = 1;
      if (fabs(cn - c) < 1e-11) {
        c = cn;
        break;
      }
      c = cn;
    }
    corr_map(r2, a, q, c, sw, sb, &val, &slope);
    o->c_star = c;
    o->chi_c = slope;
  }
  o->xi_c = depth_scale(o->chi_c);
  return DS_OK;
}

static ds_status check_args(ds_act act, double sw, double sb) {
  if ((unsigned)act > DS_ACT_IDENTITY)
    return ds_set_error(DS_EINVAL, "meanfield: unknown activation %d", (int)act);
  if (!(sw > 0) || !isfinite(sw))
    return ds_set_error(DS_EINVAL, "meanfield: sigma_w must be > 0, got %g", sw);
  if (!(sb >= 0) || !isfinite(sb))
    return ds_set_error(DS_EINVAL, "meanfield: sigma_b must be >= 0, got %g", sb);
  return DS_OK;
}

/* Two rules (about 5 KB) on the heap: callers may run on small stacks. */
typedef struct {
  gh_rule r1, r2;
} rules;
static rules *rules_new(void) {
  rules *r = ds_malloc(sizeof *r);
  if (!r) return NULL;
  gh_init(&r->r1, N1);
  gh_init(&r->r2, N2);
  return r;
}

ds_status ds_meanfield_eval(ds_act act, double sigma_w, double sigma_b, ds_meanfield *out) {
  ds_status st = check_args(act, sigma_w, sigma_b);
  if (st) return st;
  if (!out) return ds_set_error(DS_EINVAL, "meanfield: out is NULL");
  rules *r = rules_new();
  if (!r) return DS_ENOMEM;
  st = eval_with(&r->r1, &r->r2, act, sigma_w, sigma_b, out);
  ds_free(r);
  return st;
}

ds_status ds_meanfield_critical(ds_act act, double sigma_b, ds_meanfield *out) {
  ds_status st = check_args(act, 1.0, sigma_b);
  if (st) return st;
  if (!out) return ds_set_error(DS_EINVAL, "meanfield: out is NULL");
  rules *r = rules_new();
  if (!r) return DS_ENOMEM;
  /* chi1(sigma_w) - 1 changes sign once for the activations here: scan sigma_w upwards from 0.05
   * by factors of 1.25 (never further than needed: the quadrature resolves q* up to ~20) for a
   * bracket, then bisect in log sigma_w */
  double lo = log(0.05), hi = lo, chi_lo = 0, chi = 0;
  for (int k = 0; k < 40 && hi <= log(50.0); k++) {
    double sw = exp(hi), q = length_fixed_point(&r->r1, act, sw, sigma_b);
    chi = sw * sw * expect(&r->r1, act, isfinite(q) ? q : 1e12).d1sq;
    if (k == 0) chi_lo = chi;
    if (chi >= 1) break;
    lo = hi;
    hi += log(1.25);
  }
  if (!(chi_lo < 1 && chi >= 1)) {
    ds_free(r);
    return ds_set_error(DS_EINVAL,
                        "meanfield: activation '%s' with sigma_b = %g has no critical sigma_w in "
                        "[0.05, 50] (chi1 = %g at 0.05, %g at %g)",
                        ds_act_name(act), sigma_b, chi_lo, chi, exp(hi));
  }
  for (int it = 0; it < 80 && hi - lo > 1e-13; it++) {
    double mid = 0.5 * (lo + hi), sw = exp(mid);
    double q = length_fixed_point(&r->r1, act, sw, sigma_b);
    double chi = sw * sw * expect(&r->r1, act, isfinite(q) ? q : 1e12).d1sq;
    if (chi < 1)
      lo = mid;
    else
      hi = mid;
  }
  double sw = exp(0.5 * (lo + hi));
  {
    double q = length_fixed_point(&r->r1, act, sw, sigma_b);
    double chi = sw * sw * expect(&r->r1, act, isfinite(q) ? q : 1e12).d1sq;
    if (fabs(chi - 1) > 1e-4 && act != DS_ACT_RELU && act != DS_ACT_LEAKY_RELU &&
        act != DS_ACT_IDENTITY) {
      ds_free(r);
      return ds_set_error(DS_EINVAL,
                          "meanfield: activation '%s' with sigma_b = %g has no critical sigma_w: "
                          "chi1 jumps across 1 at sigma_w = %.6f (the fixed point q* of the "
                          "length map jumps there)",
                          ds_act_name(act), sigma_b, sw);
    }
  }
  if (act == DS_ACT_RELU || act == DS_ACT_LEAKY_RELU || act == DS_ACT_IDENTITY) {
    /* chi1 = sigma_w^2 E[phi'^2] does not depend on q: closed forms */
    sw = act == DS_ACT_RELU ? sqrt(2.0) : act == DS_ACT_IDENTITY ? 1.0 : sqrt(2.0 / (1 + 1e-4));
  }
  st = eval_with(&r->r1, &r->r2, act, sw, sigma_b, out);
  if (!st)
    out->chi1 = (act == DS_ACT_RELU || act == DS_ACT_LEAKY_RELU || act == DS_ACT_IDENTITY)
                    ? 1.0
                    : out->chi1;
  ds_free(r);
  return st;
}

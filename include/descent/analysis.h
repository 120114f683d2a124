/* descent — analysis: tools that look at a model rather than train it: optimizer races on 2-D test
 * surfaces, Hessian spectra and sharpness, loss-landscape slices, signal propagation measured
 * (activations per depth, input-output Jacobian spectra). Mean-field theory of signal
 * propagation lives with the initialisers (meanfield.h) and is included here for convenience. */
#ifndef DESCENT_ANALYSIS_H
#define DESCENT_ANALYSIS_H
#include "data.h"
#include "error.h"
#include "export.h"
#include "graph.h"
#include "meanfield.h"
#include "nn.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif
DS_API_BEGIN

/* ---- optimizer races on 2-D test surfaces ---------------------------------------------------- */

/* The test surfaces of `descent toy`, f(x, y):
 *   saddle      x^2 - y^2 (unbounded below; a run "arrives" when it escapes, |y| > 1)
 *   rosenbrock  (1 - x)^2 + 100 (y - x^2)^2, minimum 0 at (1, 1)
 *   beale       (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2, minimum 0 at (3,
 * 0.5) quadratic   (x^2 + kappa y^2) / 2, condition number kappa, minimum 0 at (0, 0) two_minima
 * (x^2 - 1)^2 + 0.3 x + y^2 / 2: a local minimum near (0.96, 0) and the global one near (-1.04, 0),
 * separated by a ridge near x = 0.08 */
typedef enum {
  DS_TOY_SADDLE = 0,
  DS_TOY_ROSENBROCK,
  DS_TOY_BEALE,
  DS_TOY_QUADRATIC,
  DS_TOY_TWO_MINIMA,
  DS_TOY_COUNT
} ds_toy_kind;

/* A surface and its defaults: start point, plotting window, minimum and step count. */
typedef struct {
  ds_toy_kind kind;
  double kappa;             /* quadratic only (default 10) */
  double start[2];          /* default start of the race */
  double window[4];         /* x0, x1, y0, y1 of the plot */
  double minimum[2], f_min; /* the global minimum (saddle: the saddle point, f 0) */
  int steps;                /* default number of steps */
} ds_toy_surface;

/* The surface called name ("saddle", "rosenbrock", "beale", "quadratic", "two_minima") with its
 * defaults; kappa >= 1 is used by the quadratic (and ignored by the others). DS_ENOTFOUND naming it
 * if unknown, DS_EINVAL for a quadratic with kappa < 1. */
ds_status ds_toy_surface_get(const char *name, double kappa, ds_toy_surface *out);
/* The surface's name (static storage) and the space-separated list of all names. */
const char *ds_toy_name(ds_toy_kind kind);
const char *ds_toy_names(void);
/* f(x, y); *gx, *gy (may be NULL) receive the gradient. */
double ds_toy_eval(const ds_toy_surface *s, double x, double y, double *gx, double *gy);

/* The racers of the lecture's pictures: "sgd", "momentum" (sgd, momentum 0.9), "nesterov" (sgd,
 * momentum 0.9, nesterov), and every optimizer name of ds_optim_names with its own defaults.
 * ds_toy_optim_new creates the optimizer over ps with weight decay 0 (a test surface has no
 * regulariser) and the racer's hyperparameters; NULL + DS_ENOTFOUND naming it if unknown. */
ds_optim *ds_toy_optim_new(const char *racer, ds_paramset *ps);
/* The default learning rate of a racer on a surface (tuned so that each racer makes progress
 * without diverging from the default start); the optimizer's own default for names outside the
 * lecture's seven (sgd, momentum, nesterov, adagrad, rmsprop, adadelta, adam). */
double ds_toy_default_lr(const ds_toy_surface *s, const char *racer);

/* A parameter set of one 2-element weight "xy" = (x, y), for racing. Free with ds_paramset_free. */
ds_paramset *ds_toy_params(double x, double y);

/* Outcome of one race. */
typedef struct {
  int steps_to_target; /* first step whose point is within eps of the minimum (saddle: |y| > 1);
                          -1 if never */
  double final_loss;   /* f at the last point */
  bool diverged;       /* a non-finite point was reached (the path stops there) */
} ds_toy_result;

/* Runs `steps` optimizer steps of o (created over ps = ds_toy_params) at learning rate lr on s:
 * each step writes the surface's gradient at ps->data into ps->grad and calls ds_optim_step.
 * path (may be NULL) receives (steps + 1) points x, y interleaved, the start first; after a
 * divergence the remaining points repeat the last finite one. eps > 0: target distance. */
ds_status ds_toy_run(const ds_toy_surface *s, ds_optim *o, ds_paramset *ps, double lr, int steps,
                     double eps, double *path, ds_toy_result *out);

/* ---- the training loss over a fixed subset, with its gradient ------------------------------- */

/* The mean per-sample loss L(w) = (1/n) sum_i loss_i(w) over the first n samples of a dataset,
 * computed through a compiled graph in batches of its max batch size. The basis of the Hessian
 * and landscape tools below. Mode: training = false is evaluation mode (batch norm uses its
 * running statistics, dropout is off); training = true uses batch statistics of each batch (and
 * would apply dropout); the graph's running statistics are restored after every evaluation, so
 * that evaluating changes nothing. */
typedef struct ds_lossfn ds_lossfn;

/* A loss over the first n samples of d (n <= 0 or n > d->n: all) through g (compiled; data
 * inputs x and y). g and d are borrowed and must outlive the result. NULL + error on bad
 * arguments. Allocates a gradient accumulator of numel doubles. Free with ds_lossfn_free. */
ds_lossfn *ds_lossfn_new(ds_graph *g, ds_node x, ds_node y, const ds_dataset *d, int64_t n,
                         bool training);
void ds_lossfn_free(ds_lossfn *f);
/* The graph, whose parameter set (ds_graph_params) holds the point w evaluated. */
ds_graph *ds_lossfn_graph(ds_lossfn *f);
/* Samples in the subset. */
int64_t ds_lossfn_samples(const ds_lossfn *f);

/* L(w) at the graph's current parameters into *loss; grad (may be NULL: forward only) receives
 * dL/dw, numel doubles (batch gradients accumulated in double). DS_ENUMERIC if L is not finite. */
ds_status ds_lossfn_eval(ds_lossfn *f, double *loss, double *grad);

/* ---- Hessian of the loss: products, spectrum, trace, sharpness ------------------------------- */

/* Hessian-vector product H v of L at the current parameters, by central differences of
 * gradients: Hv ~ ||v|| (grad L(w + h u) - grad L(w - h u)) / (2 h) with u = v / ||v|| and the step
 * h = sqrt(float32 epsilon) (1 + ||w||_2) (ds_hvp_step). Parameters are restored bit for bit.
 * v, hv: numel doubles. Two gradient passes. For ReLU networks the quotient also sees the kinks
 * crossed within the step (docs/landscape.md). */
ds_status ds_hvp(ds_lossfn *f, const double *v, double *hv);
/* The finite-difference step length h used by ds_hvp at the current parameters. */
double ds_hvp_step(ds_lossfn *f);

/* The k largest eigenvalues of the Hessian (descending) by the Lanczos method with full
 * reorthogonalisation: `iterations` Hessian-vector products (k <= iterations <= 500) from a
 * Gaussian start vector drawn from seed. residual (may be NULL) receives, per eigenvalue, the
 * Lanczos estimate of ||H s - theta s|| of its Ritz vector: small means converged. Allocates
 * iterations vectors of numel floats for the call. */
ds_status ds_hessian_top(ds_lossfn *f, int k, int iterations, uint64_t seed, double *eig,
                         double *residual);

/* Hutchinson's estimator of the Hessian trace: the mean of v^T H v over `probes` Rademacher
 * vectors v (probes >= 1), and its standard error (NAN for one probe). */
ds_status ds_hessian_trace(ds_lossfn *f, int probes, uint64_t seed, double *trace, double *std_err);

/* Keskar et al. (2017) epsilon-sharpness: 100 (max_{y in C} L(w + y) - L(w)) / (1 + L(w)) over
 * the box C = {|y_i| <= eps (|w_i| + 1)}, the maximum approximated by `steps` projected
 * sign-gradient ascent steps of size 2 eps (|w_i| + 1) / steps from y = 0 (Keskar used L-BFGS-B;
 * this is a lower bound of the true maximum). *loss0 and *loss_max (may be NULL) receive L(w)
 * and the largest loss found. Parameters are restored. */
ds_status ds_eps_sharpness(ds_lossfn *f, double eps, int steps, double *sharpness, double *loss0,
                           double *loss_max);

/* ---- loss landscapes ---------------------------------------------------------------------------
 */

/* A random direction for landscape plots, filter-normalised (Li et al. 2018, "Visualizing the Loss
 * Landscape of Neural Nets"): Gaussian N(0, 1) entries from seed; for every weight tensor each
 * filter (output row i: dim 0 of a rank >= 2 weight, the whole tensor for rank 1) is rescaled to
 * the norm of the same filter of the weights ps->data, d_i <- d_i ||w_i|| / ||d_i||. Biases and
 * norm gains/biases are 0 in the direction, or with include_bn a copy of the weights (as the
 * reference code, net_plotter.py, does). dir: ps->numel floats. */
ds_status ds_filter_normalized_direction(const ds_paramset *ps, uint64_t seed, bool include_bn,
                                         float *dir);

/* Progress report from a long computation: done of total units finished. Called from one thread
 * at a time. */
typedef void (*ds_progress_fn)(void *ctx, int64_t done, int64_t total);

/* The loss on a plane: loss[i * ny + j] = L(w0 + a_i d1 + b_j d2) with a_i evenly spaced over
 * [a0, a1] (nx >= 2 points) and b_j over [b0, b1] (ny >= 2). The grid points are shared among the
 * workers, n_workers losses over identical models and subsets (each with its own graph), run in
 * parallel with one thread each; with one worker its graph uses all threads. Each worker's
 * parameters are left at w0. A point whose loss is not finite gets INFINITY. progress may be NULL.
 */
typedef struct {
  int nx, ny;
  double a0, a1, b0, b1;
} ds_plane_grid;
ds_status ds_loss_plane(ds_lossfn *const *workers, int n_workers, const float *w0, const float *d1,
                        const float *d2, const ds_plane_grid *grid, double *loss,
                        ds_progress_fn progress, void *progress_ctx);

/* The plane of an optimizer's path (Li et al. 2018, section 7; their PCA of the checkpoints):
 * w[0..k) are k flat parameter vectors of n floats along a run (e.g. its checkpoints, in order),
 * final the weights the plane is centred on (usually the last). The rows m_i = w_i - final are
 * centred (their mean removed) and their two leading principal directions written to d1 and d2
 * (n floats each, unit length, orthogonal), found from the k x k Gram matrix of the centred rows
 * (in double; a Jacobi eigensolver) and mapped back, d = sum_i u_i m_i / ||...||. explained[j]
 * receives the share of the rows' variance along d_j (lambda_j / sum of all lambda; the two sum
 * to at most 1). path (k x 2 doubles, may be NULL) receives the coordinates <m_i, d1>, <m_i, d2>
 * of every point (final is at the origin); the signs of d1, d2 make the first point's coordinates
 * non-negative. Needs 3 <= k <= 500 points that span two directions (DS_EINVAL otherwise).
 * Allocates a few k x k matrices. */
ds_status ds_pca_directions(const float *const *w, int k, const float *final, int64_t n, float *d1,
                            float *d2, double explained[2], double *path);

/* ---- signal propagation: activations per depth, the input-output Jacobian ------------------- */

/* One measured node of a network: the output of a linear or conv layer (pre-activation) or of an
 * activation op (post-activation), with its statistics over a set of inputs. */
typedef struct {
  ds_node node;
  int depth; /* the number of linear/conv outputs up to and including this node (1: first layer) */
  bool post; /* post-activation (an activation op) rather than pre-activation (linear, conv) */
  double q;  /* mean of h^2 over samples and units: the mean-field length q^l (meanfield.h) */
  double mean; /* mean of h */
  double var;  /* variance of h over samples and units, q - mean^2 */
} ds_signal_layer;

/* The nodes to measure, in graph order: every output of a linear or conv2d op and of an activation
 * op (relu, tanh, gelu, sigmoid, leaky_relu, identity). The first min(cap, found) are written to
 * layers (node, depth, post; statistics zero); *count receives the number found. */
ds_status ds_signal_layers(const ds_graph *g, ds_signal_layer *layers, int cap, int *count);

/* q, mean and var of each of the count layers over the first n samples of d (n <= 0: all), fed
 * through the data inputs x and y of the compiled graph g in batches of its max batch. A model with
 * batch norm runs with batch statistics (its running statistics unchanged), any other in evaluation
 * mode; the graph's mode is restored. DS_ENUMERIC naming the node if a value is not finite. */
ds_status ds_signal_stats(ds_graph *g, ds_node x, ds_node y, const ds_dataset *d, int64_t n,
                          ds_signal_layer *layers, int count);

/* Most outputs per sample of ds_signal_jacobian. */
#define DS_SIGNAL_MAX_OUT 256

/* Singular values of the input-output Jacobian J_i = d out_i / d x_i (K x D, K = per-sample size
 * of node out, at most DS_SIGNAL_MAX_OUT; D = per-sample size of x) of each of the first n samples
 * of d (n <= 0: all), exactly: per batch, K vector-Jacobian products (ds_graph_backward_from with
 * the unit vector e_k for every sample) give every J_i, and the singular values are the square
 * roots of the eigenvalues of the K x K matrix J_i J_i^T (Jacobi, in double). x must have been
 * given ds_input_requires_grad before compiling. Evaluation mode (a per-sample function); the
 * graph's mode is restored. sv: n x K doubles, sample i's values descending at sv[i K]. */
ds_status ds_signal_jacobian(ds_graph *g, ds_node x, ds_node y, ds_node out, const ds_dataset *d,
                             int64_t n, double *sv);

/* The spectral density of the singular values of the Jacobian between two inner nodes, J = d to /
 * d from (from before to, both with gradients, e.g. the first and the last activation), over the
 * first n samples of d (n <= 0 or beyond the max batch: one full batch) taken together (J is
 * block-diagonal across samples), by stochastic Lanczos quadrature: `iterations` (1..500) Lanczos
 * steps on J^T J from a Gaussian start vector of seed. Products: J v by central differences of
 * ds_graph_forward_from passes (step sqrt(float32 eps) (1 + ||h||) along the unit direction, h the
 * batch's value of from), J^T u by ds_graph_backward_from at the point. *count (<= iterations)
 * receives the steps made; sv[0..count) the singular values sqrt(Ritz values), ascending, and
 * weight[0..count) their quadrature weights (summing to 1): the density of the singular values is
 * about sum_j weight[j] delta(s - sv[j]); the extreme values converge first. Evaluation mode; the
 * graph's mode and values are restored. sv, weight: iterations doubles each. The graph must have
 * been compiled with ds_graph_keep_grads (the gradient of `from` is read after backward; DS_ESTATE
 * otherwise). */
ds_status ds_signal_jacobian_slq(ds_graph *g, ds_node x, ds_node y, ds_node from, ds_node to,
                                 const ds_dataset *d, int64_t n, int iterations, uint64_t seed,
                                 double *sv, double *weight, int *count);

DS_API_END
#ifdef __cplusplus
}
#endif
#endif

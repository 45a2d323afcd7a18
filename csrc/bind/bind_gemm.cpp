// Bindings of the GEMM family: gemm(a, b, out, trans_a, trans_b, alpha, beta, bias, act).
//
// a, b and out are 2-D, or 3-D for a batch (python/nervo/ops/gemm.py's matmul): a (Ba, ., .),
// b (Bb, ., .), out (B, M, N) with Ba and Bb each 1 (broadcast) or B. a and b may have any strides
// that are whole elements (transposes, Fortran order, slices with steps, negative or zero strides:
// the kernel reads element (i, k) at a[i * rs + k * cs]). out needs unit column stride; its row and
// batch strides are free. An input that overlaps out is copied first (the result is then exact). bias is None or a contiguous length-N vector. Validation here mirrors
// the Python layer so a direct call cannot crash the process.
#include <cstdint>
#include <string>
#include <utility>

#include "bind/common.h"
#include "ops/gemm/gemm.h"

namespace nervo {
namespace bind {

namespace {

constexpr const char* kCall = "nervo.ops.gemm";

// Strides of `a` in elements; ValueError when one is not a whole number of elements.
std::vector<int64_t> elem_strides(const py::array& a, const char* arg) {
  std::vector<int64_t> s(a.ndim());
  const int64_t item = a.itemsize();
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    if (a.strides(d) % item != 0)
      throw std::invalid_argument(std::string(kCall) + ": " + arg + " has stride " +
                                  std::to_string(a.strides(d)) +
                                  " bytes, not a multiple of its item size");
    s[d] = a.strides(d) / item;
  }
  return s;
}

// Byte range [lo, hi) that array x spans (empty for a size-0 array).
std::pair<uintptr_t, uintptr_t> extent(const py::array& x) {
  if (x.size() == 0) return {0, 0};
  intptr_t lo = reinterpret_cast<intptr_t>(x.data()), hi = lo;
  for (py::ssize_t d = 0; d < x.ndim(); ++d) {
    const intptr_t span = static_cast<intptr_t>(x.shape(d) - 1) * x.strides(d);
    (span < 0 ? lo : hi) += span;
  }
  return {static_cast<uintptr_t>(lo), static_cast<uintptr_t>(hi + x.itemsize())};
}

bool overlaps(const py::array& x, const py::array& out) {
  const auto a = extent(x), b = extent(out);
  return a.first < a.second && b.first < b.second && a.first < b.second && b.first < a.second;
}

struct Operand {
  int64_t batch, rows, cols;  // of op(x)
  int64_t bs, rs, cs;         // element strides of op(x)
};

Operand operand(const py::array& x, bool trans, const char* arg) {
  if (x.ndim() != 2 && x.ndim() != 3)
    throw std::invalid_argument(std::string(kCall) + ": " + arg + " must be 2-D or 3-D, got shape " +
                                shape_str(x));
  const std::vector<int64_t> s = elem_strides(x, arg);
  const int o = x.ndim() == 3 ? 1 : 0;
  Operand r{o ? x.shape(0) : 1, x.shape(o), x.shape(o + 1), o ? s[0] : 0, s[o], s[o + 1]};
  if (trans) {
    std::swap(r.rows, r.cols);
    std::swap(r.rs, r.cs);
  }
  if (r.batch == 1) r.bs = 0;
  return r;
}

void gemm(py::array a, py::array b, py::array& out, bool trans_a, bool trans_b, double alpha,
          double beta, const py::object& bias, int act_id) {
  const DType dt = float_dtype(a, kCall, "a");
  require_dtype(b, dt, kCall, "b");
  require_dtype(out, dt, kCall, "out");
  require_writable(out, kCall, "out");
  if (act_id < 0 || act_id > static_cast<int>(gemm::Act::tanh))
    throw std::invalid_argument(std::string(kCall) + ": unknown activation id " +
                                std::to_string(act_id));
  // out is written while a and b are still read: an input overlapping it is read from a copy.
  if (overlaps(a, out)) a = py::array(a.attr("copy")());
  if (overlaps(b, out)) b = py::array(b.attr("copy")());
  const Operand A = operand(a, trans_a, "a"), B = operand(b, trans_b, "b");
  if (A.cols != B.rows)
    throw std::invalid_argument(std::string(kCall) + ": inner dimensions differ: op(a) has " +
                                std::to_string(A.cols) + " columns, op(b) has " +
                                std::to_string(B.rows) + " rows (a.shape=" + shape_str(a) +
                                ", b.shape=" + shape_str(b) + ")");
  const int64_t M = A.rows, N = B.cols, K = A.cols;
  const int64_t batch = A.batch == 1 ? B.batch : A.batch;  // NumPy broadcasting (0 included)
  if ((A.batch != 1 && A.batch != batch) || (B.batch != 1 && B.batch != batch))
    throw std::invalid_argument(std::string(kCall) + ": batch sizes " + std::to_string(A.batch) +
                                " and " + std::to_string(B.batch) + " do not broadcast");
  const bool batched = a.ndim() == 3 || b.ndim() == 3;
  const int o = batched ? 1 : 0;
  if (out.ndim() != (batched ? 3 : 2) || (batched && out.shape(0) != batch) ||
      out.shape(o) != M || out.shape(o + 1) != N)
    throw std::invalid_argument(std::string(kCall) + ": out has shape " + shape_str(out) +
                                ", expected " + (batched ? "(" + std::to_string(batch) + ", " : "(") +
                                std::to_string(M) + ", " + std::to_string(N) + ")");
  const void* bias_ptr = nullptr;
  py::array bias_arr;
  if (!bias.is_none()) {
    bias_arr = bias.cast<py::array>();
    require_dtype(bias_arr, dt, kCall, "bias");
    if (bias_arr.ndim() != 1 || bias_arr.shape(0) != N)
      throw std::invalid_argument(std::string(kCall) + ": bias has shape " + shape_str(bias_arr) +
                                  ", expected (" + std::to_string(N) + ",)");
    if (overlaps(bias_arr, out)) bias_arr = py::array(bias_arr.attr("copy")());
    bias_ptr = in_ptr<char>(bias_arr, kCall, "bias");
  }

  if (batch == 0 || M == 0 || N == 0) return;
  const std::vector<int64_t> cs = elem_strides(out, "out");
  if ((N > 1 && cs[o + 1] != 1) || (M > 1 && cs[o] < N) || (batched && batch > 1 && cs[0] < M * N))
    throw std::invalid_argument(std::string(kCall) +
                                ": out must be row-major with unit column stride and "
                                "non-overlapping rows");
  const int64_t ldc = cs[o], bs_c = batched ? cs[0] : 0;
  const gemm::Act act = static_cast<gemm::Act>(act_id);
  if (dt == DType::f32) {
    const gemm::Epilogue<float> ep{static_cast<const float*>(bias_ptr), act};
    const float* ap = static_cast<const float*>(a.data());
    const float* bp = static_cast<const float*>(b.data());
    float* cp = static_cast<float*>(out.mutable_data());
    py::gil_scoped_release nogil;
    gemm::sgemm_batched(batch, M, N, K, static_cast<float>(alpha), ap, A.bs, A.rs, A.cs, bp, B.bs,
                        B.rs, B.cs, static_cast<float>(beta), cp, bs_c, ldc, ep);
  } else {
    const gemm::Epilogue<double> ep{static_cast<const double*>(bias_ptr), act};
    const double* ap = static_cast<const double*>(a.data());
    const double* bp = static_cast<const double*>(b.data());
    double* cp = static_cast<double*>(out.mutable_data());
    py::gil_scoped_release nogil;
    gemm::dgemm_batched(batch, M, N, K, alpha, ap, A.bs, A.rs, A.cs, bp, B.bs, B.rs, B.cs, beta, cp,
                        bs_c, ldc, ep);
  }
}

}  // namespace

void bind_gemm(py::module_& m, py::list& kernels) {
  m.def("gemm", &gemm, py::arg("a"), py::arg("b"), py::arg("out"), py::arg("trans_a"),
        py::arg("trans_b"), py::arg("alpha"), py::arg("beta"), py::arg("bias"), py::arg("act"));
  kernels.append("gemm");
  // Not a kernel (the numba backend has no equivalent): a module function for benchmarks.
  m.def(
      "peak_gflops",
      [](int threads, double seconds) {
        if (threads < 1) throw std::invalid_argument("nervo.ops.peak_gflops: threads must be >= 1");
        if (!(seconds > 0.0 && seconds < 60.0))
          throw std::invalid_argument("nervo.ops.peak_gflops: seconds must be in (0, 60)");
        py::gil_scoped_release nogil;
        return gemm::peak_gflops(threads, seconds);
      },
      py::arg("threads"), py::arg("seconds"));
}

}  // namespace bind
}  // namespace nervo

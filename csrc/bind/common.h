// Helpers shared by every bind_<family>.cpp: turn NumPy arrays into raw pointers after checking
// dtype, layout and writability, with error messages that name the call and the argument.
// TypeError for dtypes, ValueError for shapes/layouts; all checks run while holding the GIL.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace nervo {
namespace bind {

namespace py = pybind11;

enum class DType { f32, f64 };

inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

inline std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

// float32 or float64 in native byte order; TypeError otherwise.
inline DType float_dtype(const py::array& a, const char* call, const char* arg) {
  const py::dtype dt = a.dtype();
  if (dt.byteorder() != '>') {
    if (dt.is(py::dtype::of<float>())) return DType::f32;
    if (dt.is(py::dtype::of<double>())) return DType::f64;
  }
  throw py::type_error(std::string(call) + ": " + arg + " must be float32 or float64, got " +
                       dtype_str(a));
}

inline void require_dtype(const py::array& a, DType want, const char* call, const char* arg) {
  if (float_dtype(a, call, arg) != want)
    throw py::type_error(std::string(call) + ": " + arg + " has dtype " + dtype_str(a) +
                         " but must match the other arrays (" +
                         (want == DType::f32 ? "float32" : "float64") + ")");
}

inline void require_contiguous(const py::array& a, const char* call, const char* arg) {
  if (!(a.flags() & py::array::c_style))
    throw std::invalid_argument(std::string(call) + ": " + arg + " must be C-contiguous");
}

inline void require_writable(const py::array& a, const char* call, const char* arg) {
  if (!a.writeable())
    throw std::invalid_argument(std::string(call) + ": " + arg + " is read-only");
}

inline void require_size(const py::array& a, py::ssize_t n, const char* call, const char* arg) {
  if (a.size() != n)
    throw std::invalid_argument(std::string(call) + ": " + arg + " has shape " + shape_str(a) +
                                " (" + std::to_string(a.size()) + " elements), expected " +
                                std::to_string(n) + " elements");
}

// A contiguous input of the given dtype.
template <class T>
const T* in_ptr(const py::array& a, const char* call, const char* arg) {
  require_contiguous(a, call, arg);
  return static_cast<const T*>(a.data());
}

// A contiguous, writable output of the given dtype.
template <class T>
T* out_ptr(py::array& a, const char* call, const char* arg) {
  require_contiguous(a, call, arg);
  require_writable(a, call, arg);
  return static_cast<T*>(a.mutable_data());
}

}  // namespace bind
}  // namespace nervo

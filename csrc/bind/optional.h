// Optional array arguments (None or an array) for the bind_<family>.cpp files of the loss,
// dropout, embedding and optimizer families: same checks as common.h, nullptr for None.
#pragma once
#include "bind/common.h"

namespace nervo {
namespace bind {

// An input that may be None; when given: dtype `dt`, `n` elements, C-contiguous.
template <class T>
const T* opt_in(const py::object& o, DType dt, py::ssize_t n, const char* call, const char* arg) {
  if (o.is_none()) return nullptr;
  py::array a = py::reinterpret_borrow<py::array>(o);
  require_dtype(a, dt, call, arg);
  require_size(a, n, call, arg);
  return in_ptr<T>(a, call, arg);
}

// An output / in-place buffer that may be None; when given it must also be writable.
template <class T>
T* opt_out(const py::object& o, DType dt, py::ssize_t n, const char* call, const char* arg) {
  if (o.is_none()) return nullptr;
  py::array a = py::reinterpret_borrow<py::array>(o);
  require_dtype(a, dt, call, arg);
  require_size(a, n, call, arg);
  return out_ptr<T>(a, call, arg);
}

// An int64 index array (native byte order, C-contiguous).
inline const int64_t* index_ptr(const py::array& a, const char* call, const char* arg) {
  const py::dtype dt = a.dtype();
  if (!dt.is(py::dtype::of<int64_t>()) || dt.byteorder() == '>')
    throw py::type_error(std::string(call) + ": " + arg + " must be int64, got " + dtype_str(a));
  return in_ptr<int64_t>(a, call, arg);
}

inline void require_array(const py::object& o, const char* call, const char* arg) {
  if (!py::isinstance<py::array>(o))
    throw py::type_error(std::string(call) + ": " + arg + " must be a numpy.ndarray");
}

}  // namespace bind
}  // namespace nervo

// Python bindings over the C ABI of libtpmjoin.so, for the pytest harness.
// Every call releases the GIL, so Python threads run joins concurrently.
// Failures raise tpmjoin.Error(status, message).
#include <pybind11/pybind11.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "tpmjoin.h"
#include "tpmjoin_verifier.h"

namespace py = pybind11;

namespace {

class Error : public std::runtime_error {
 public:
  Error(int status, std::string message)
      : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

PyObject* g_error_type = nullptr;

void Check(tpmjoin_status status) {
  if (status != TPMJOIN_OK) throw Error(status, tpmjoin_last_error());
}

// Takes ownership of library output.
py::bytes Take(tpmjoin_bytes* b) {
  py::bytes out(reinterpret_cast<const char*>(b->data), b->len);
  tpmjoin_bytes_free(b);
  return out;
}

std::string View(const py::bytes& b) { return std::string(b); }

class Session {
 public:
  explicit Session(py::object config) {
    std::string json;
    const char* p = nullptr;
    if (!config.is_none()) {
      json = config.cast<std::string>();
      p = json.c_str();
    }
    tpmjoin_status st;
    {
      py::gil_scoped_release release;
      st = tpmjoin_session_open(p, &s_);
    }
    Check(st);
  }
  ~Session() { Close(); }

  py::bytes Begin(const py::bytes& join_request) { return Call(tpmjoin_join_begin, join_request); }
  py::bytes Respond(const py::bytes& challenge) { return Call(tpmjoin_join_respond, challenge); }

  void Close() {
    py::gil_scoped_release release;
    tpmjoin_session_close(s_);
    s_ = nullptr;
  }

 private:
  template <typename Fn>
  py::bytes Call(Fn fn, const py::bytes& input) {
    if (s_ == nullptr) throw Error(TPMJOIN_ERR_INVALID_ARGUMENT, "session is closed");
    const std::string in = View(input);
    tpmjoin_bytes out = {nullptr, 0};
    tpmjoin_status st;
    {
      py::gil_scoped_release release;
      st = fn(s_, reinterpret_cast<const uint8_t*>(in.data()), in.size(), &out);
    }
    Check(st);
    return Take(&out);
  }

  tpmjoin_session* s_ = nullptr;
};

class Challenge {
 public:
  explicit Challenge(tpmjoin_challenge* c) : c_(c) {}
  ~Challenge() { tpmjoin_challenge_free(c_); }
  Challenge(const Challenge&) = delete;
  Challenge& operator=(const Challenge&) = delete;

  std::string Finish(const py::bytes& request) {
    const std::string in = View(request);
    tpmjoin_bytes out = {nullptr, 0};
    tpmjoin_status st;
    {
      py::gil_scoped_release release;
      st = tpmjoin_verifier_finish(c_, reinterpret_cast<const uint8_t*>(in.data()), in.size(),
                                   &out);
    }
    Check(st);
    return std::string(Take(&out));
  }

 private:
  tpmjoin_challenge* c_;
};

class Verifier {
 public:
  explicit Verifier(const std::string& policy) {
    tpmjoin_status st;
    {
      py::gil_scoped_release release;
      st = tpmjoin_verifier_open(policy.c_str(), &v_);
    }
    Check(st);
  }
  ~Verifier() { tpmjoin_verifier_close(v_); }

  py::tuple MakeChallenge(const py::bytes& request) {
    const std::string in = View(request);
    tpmjoin_challenge* c = nullptr;
    tpmjoin_bytes out = {nullptr, 0};
    tpmjoin_status st;
    {
      py::gil_scoped_release release;
      st = tpmjoin_verifier_challenge(v_, reinterpret_cast<const uint8_t*>(in.data()), in.size(),
                                      &c, &out);
    }
    Check(st);
    auto challenge = std::make_unique<Challenge>(c);
    return py::make_tuple(std::move(challenge), Take(&out));
  }

 private:
  tpmjoin_verifier* v_ = nullptr;
};

std::string Identify(py::object config) {
  std::string json;
  const char* p = nullptr;
  if (!config.is_none()) {
    json = config.cast<std::string>();
    p = json.c_str();
  }
  tpmjoin_bytes out = {nullptr, 0};
  tpmjoin_status st;
  {
    py::gil_scoped_release release;
    st = tpmjoin_identify(p, &out);
  }
  Check(st);
  return std::string(Take(&out));
}

std::string EkInfo(const py::bytes& data) {
  const std::string in = View(data);
  tpmjoin_bytes out = {nullptr, 0};
  Check(tpmjoin_ek_info(reinterpret_cast<const uint8_t*>(in.data()), in.size(), &out));
  return std::string(Take(&out));
}

}  // namespace

PYBIND11_MODULE(_tpmjoin, m) {
  m.doc() = "Test bindings over libtpmjoin.so's C ABI";
  static py::exception<Error> error(m, "Error");
  g_error_type = error.ptr();
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      py::object exc = py::reinterpret_borrow<py::object>(g_error_type)(e.status(), e.what());
      PyErr_SetObject(g_error_type, exc.ptr());
    }
  });

  m.attr("OK") = static_cast<int>(TPMJOIN_OK);
  m.attr("ERR_INVALID_ARGUMENT") = static_cast<int>(TPMJOIN_ERR_INVALID_ARGUMENT);
  m.attr("ERR_BAD_MESSAGE") = static_cast<int>(TPMJOIN_ERR_BAD_MESSAGE);
  m.attr("ERR_TPM") = static_cast<int>(TPMJOIN_ERR_TPM);
  m.attr("ERR_TPM_UNAVAILABLE") = static_cast<int>(TPMJOIN_ERR_TPM_UNAVAILABLE);
  m.attr("ERR_STATE") = static_cast<int>(TPMJOIN_ERR_STATE);
  m.attr("ERR_DENIED") = static_cast<int>(TPMJOIN_ERR_DENIED);
  m.attr("ERR_INTERNAL") = static_cast<int>(TPMJOIN_ERR_INTERNAL);

  m.def("abi_version", &tpmjoin_abi_version);
  m.def("identify", &Identify, py::arg("config") = py::none());
  m.def("ek_info", &EkInfo);

  py::class_<Session>(m, "Session")
      .def(py::init<py::object>(), py::arg("config") = py::none())
      .def("begin", &Session::Begin)
      .def("respond", &Session::Respond)
      .def("close", &Session::Close)
      .def("__enter__", [](Session& s) -> Session& { return s; })
      .def("__exit__", [](Session& s, py::args) { s.Close(); });

  py::class_<Challenge>(m, "Challenge").def("finish", &Challenge::Finish);

  py::class_<Verifier>(m, "Verifier")
      .def(py::init<const std::string&>())
      .def("challenge", &Verifier::MakeChallenge);
}

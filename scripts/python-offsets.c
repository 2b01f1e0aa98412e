/* Prints the offsets of the CPython fields ignis reads (the table in
 * symbolizer/pycode.c), from CPython's own headers:
 *   cc -I$PREFIX/include/python3.X -I$PREFIX/include/python3.X/internal \
 *      scripts/python-offsets.c -o /tmp/off && /tmp/off
 * tests/integration/test_python.py compiles it against every CPython whose
 * headers are on the machine and compares with the table. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#if PY_MINOR_VERSION >= 11
#include "internal/pycore_frame.h"
#else
#include "frameobject.h"
#endif
#if PY_MINOR_VERSION >= 9
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#else
#include "internal/pycore_pystate.h"
#endif
#define P(name, t, f) printf("  .%s = %zu,\n", name, offsetof(t, f))
int main(void) {
  printf("3.%d\n", PY_MINOR_VERSION);
  P("runtime_interpreters_head", _PyRuntimeState, interpreters.head);
#if PY_MINOR_VERSION >= 11
  P("interp_threads_head", PyInterpreterState, threads.head);
#else
  P("interp_threads_head", PyInterpreterState, tstate_head);
#endif
  P("tstate_next", PyThreadState, next);
  P("tstate_thread_id", PyThreadState, thread_id);
#if PY_MINOR_VERSION >= 13
  P("tstate_frame", PyThreadState, current_frame);
#elif PY_MINOR_VERSION >= 11
  P("tstate_frame", PyThreadState, cframe);
  P("cframe_current_frame", _PyCFrame, current_frame);
  P("cframe_previous", _PyCFrame, previous);
#else
  P("tstate_frame", PyThreadState, frame);
#endif
#if PY_MINOR_VERSION >= 11
#if PY_MINOR_VERSION >= 13
  P("frame_code", _PyInterpreterFrame, f_executable);
  P("frame_instr", _PyInterpreterFrame, instr_ptr);
#else
  P("frame_code", _PyInterpreterFrame, f_code);
  P("frame_instr", _PyInterpreterFrame, prev_instr);
#endif
  P("frame_previous", _PyInterpreterFrame, previous);
#if PY_MINOR_VERSION == 11
  P("frame_entry", _PyInterpreterFrame, is_entry);
#endif
  P("frame_owner", _PyInterpreterFrame, owner);
  P("code_adaptive", PyCodeObject, co_code_adaptive);
  P("code_qualname", PyCodeObject, co_qualname);
  P("code_linetable", PyCodeObject, co_linetable);
#else
  P("frame_code", PyFrameObject, f_code);
  P("frame_instr", PyFrameObject, f_lasti);
  P("frame_previous", PyFrameObject, f_back);
  P("code_code", PyCodeObject, co_code);
#if PY_MINOR_VERSION == 10
  P("code_linetable", PyCodeObject, co_linetable);
#else
  P("code_linetable", PyCodeObject, co_lnotab);
#endif
#endif
  P("code_firstlineno", PyCodeObject, co_firstlineno);
  P("code_name", PyCodeObject, co_name);
  P("code_filename", PyCodeObject, co_filename);
  printf("  .ascii_data = %zu, .compact_data = %zu, .compact_utf8 = %zu, .compact_utf8_len = %zu,\n", sizeof(PyASCIIObject), sizeof(PyCompactUnicodeObject), offsetof(PyCompactUnicodeObject, utf8), offsetof(PyCompactUnicodeObject, utf8_length));
  P("unicode_length", PyASCIIObject, length);
  P("unicode_state", PyASCIIObject, state);
  P("bytes_size", PyVarObject, ob_size);
  P("bytes_data", PyBytesObject, ob_sval);
  P("object_type", PyObject, ob_type);
  printf("  sizeof code %zu\n", sizeof(PyCodeObject));
  return 0;
}

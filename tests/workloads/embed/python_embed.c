/* A program that embeds CPython, linked with libpython3.X.a: no file in its
 * mappings is called python (tests/integration/test_python.py builds it
 * with python3.X-config). Runs the script argv[1] as __main__, with
 * sys.argv = argv[1:]. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>

__attribute__((noinline)) static int run_script(void)
{
	return PyRun_SimpleString("import sys\n"
				  "with open(sys.argv[0]) as f:\n"
				  "    src = f.read()\n"
				  "exec(compile(src, sys.argv[0], 'exec'), {'__name__': '__main__'})\n");
}

int main(int argc, char **argv)
{
	PyObject *args;
	int rc = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: %s SCRIPT [ARG...]\n", argv[0]);
		return 2;
	}
	Py_Initialize();
	args = PyList_New(0);
	for (int i = 1; args && i < argc; i++) {
		PyObject *s = PyUnicode_DecodeFSDefault(argv[i]);

		if (!s || PyList_Append(args, s)) {
			Py_XDECREF(s);
			Py_CLEAR(args);
			break;
		}
		Py_DECREF(s);
	}
	if (args && PySys_SetObject("argv", args) == 0)
		rc = run_script();
	Py_XDECREF(args);
	return Py_FinalizeEx() < 0 || rc ? 1 : 0;
}

/* The pyramid's 2x2 box mean, on the tiers' own row buffers.
 *
 * Pillow can only shrink its own images (4 bytes a colour pixel), so the
 * packed RGB tiers were unpacked into a small image, reduced, packed again
 * and copied: four passes over the rows for one mean, about 2 s of CPU on a
 * 30000x20000 image. Here each output byte is computed from the four input
 * bytes where they lie, in one pass, without the GIL.
 *
 * The rounding is Pillow's Image.reduce(2): (a + b + c + d + 2) >> 2; an
 * odd last column (and row) of a tier is dropped by the caller's sizes.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

/* One output row from the rows a and b. Constant pixel sizes let the
 * compiler unroll and vectorise each case. */
static inline void
mean_row(const uint8_t *a, const uint8_t *b, uint8_t *out, Py_ssize_t width,
         const int in_bpp, const int out_bpp)
{
    for (Py_ssize_t x = 0; x < width; x++) {
        const uint8_t *p = a + 2 * x * in_bpp;
        const uint8_t *q = b + 2 * x * in_bpp;
        uint8_t *o = out + x * out_bpp;
        for (int c = 0; c < out_bpp; c++) {
            o[c] = (uint8_t)((p[c] + p[c + in_bpp] + q[c] + q[c + in_bpp]
                              + 2) >> 2);
        }
    }
}

static void
mean_rows(const uint8_t *src, Py_ssize_t src_line, int in_bpp,
          uint8_t *dst, Py_ssize_t dst_line, int out_bpp,
          Py_ssize_t pairs, Py_ssize_t width)
{
    for (Py_ssize_t i = 0; i < pairs; i++) {
        const uint8_t *a = src + 2 * i * src_line;
        uint8_t *out = dst + i * dst_line;
        if (in_bpp == 3 && out_bpp == 3)
            mean_row(a, a + src_line, out, width, 3, 3);
        else if (in_bpp == 4 && out_bpp == 3)
            mean_row(a, a + src_line, out, width, 4, 3);
        else if (in_bpp == 1 && out_bpp == 1)
            mean_row(a, a + src_line, out, width, 1, 1);
        else
            mean_row(a, a + src_line, out, width, in_bpp, out_bpp);
    }
}

PyDoc_STRVAR(shrink_doc,
"shrink(src, src_line, src_bpp, top, dst, dst_line, dst_bpp, at, pairs,\n"
"       width)\n\n"
"2x2 box mean of `pairs` row pairs of `src` from row `top` into `pairs`\n"
"rows of `dst` from row `at`, `width` output pixels a row. Rows are\n"
"`*_line` bytes apart, pixels `*_bpp` bytes; the first `dst_bpp`\n"
"channels of each source pixel are kept.");

static PyObject *
shrink(PyObject *self, PyObject *args)
{
    Py_buffer src, dst;
    Py_ssize_t src_line, dst_line, top, at, pairs, width;
    int src_bpp, dst_bpp;

    if (!PyArg_ParseTuple(args, "y*ninw*ninnn", &src, &src_line, &src_bpp,
                          &top, &dst, &dst_line, &dst_bpp, &at, &pairs,
                          &width))
        return NULL;
    /* every bound by division, so that no product can overflow */
    int empty = pairs == 0 || width == 0;
    int ok = src_bpp >= 1 && src_bpp <= 4 && dst_bpp >= 1
        && dst_bpp <= src_bpp && top >= 0 && at >= 0 && pairs >= 0
        && width >= 0 && (empty || (src_line > 0 && dst_line > 0
        && width <= src_line / (2 * src_bpp) && width <= dst_line / dst_bpp
        && top <= src.len / src_line
        && pairs <= (src.len / src_line - top) / 2
        && at <= dst.len / dst_line
        && pairs <= dst.len / dst_line - at));
    if (ok && !empty) {
        const uint8_t *s = (const uint8_t *)src.buf + top * src_line;
        uint8_t *d = (uint8_t *)dst.buf + at * dst_line;
        Py_BEGIN_ALLOW_THREADS
        mean_rows(s, src_line, src_bpp, d, dst_line, dst_bpp, pairs, width);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError,
                        "shrink: rows or pixel sizes outside the buffers");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"shrink", shrink, METH_VARARGS, shrink_doc},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_boxmean",
    "The pyramid's 2x2 box mean on row buffers (see _boxmean.c).",
    -1, methods
};

PyMODINIT_FUNC
PyInit__boxmean(void)
{
    return PyModule_Create(&module);
}

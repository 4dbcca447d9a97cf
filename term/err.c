/* err.c: the error table (em_strerror, em_err_name) and em_buf. */
#include <stdlib.h>
#include <string.h>

#include <ember/common.h>

static const char *const err_text[] = {
#define EM_XX_(name, text) text,
    EM_ERR_MAP(EM_XX_)
#undef EM_XX_
};

static const char *const err_names[] = {
#define EM_XX_(name, text) #name,
    EM_ERR_MAP(EM_XX_)
#undef EM_XX_
};

EM_API const char *em_strerror(int err)
{
    if (err >= 0)
        return "success";
    if (-err - 1 >= EM_IX_COUNT_)
        return "unknown error";
    return err_text[-err - 1];
}

EM_API const char *em_err_name(int err)
{
    if (err >= 0)
        return "OK";
    if (-err - 1 >= EM_IX_COUNT_)
        return "EUNKNOWN";
    return err_names[-err - 1];
}

EM_API int em_buf_reserve(em_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return EM_ENOMEM;
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < want)
        cap *= 2;
    /* malloc for a first allocation: cheaper than realloc(NULL, ...) in
     * glibc, and an empty buffer filled once is the common case (every
     * em_etf_encode into a fresh buffer). */
    uint8_t *p = b->data ? realloc(b->data, cap) : malloc(cap);
    if (p == NULL)
        return EM_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

EM_API int em_buf_append(em_buf *b, const void *data, size_t n)
{
    int rc = em_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    return 0;
}

EM_API void em_buf_free(em_buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

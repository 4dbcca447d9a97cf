/* common.h: what every ember module shares: the export macro, the one table
 * of error codes, and a growable byte buffer.
 * Public: installed as <ember/common.h>; users include <ember.h>. */
#ifndef EM_TERM_COMMON_H
#define EM_TERM_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define EM_API __attribute__((visibility("default")))
#else
#define EM_API
#endif

/* Error convention (one for the whole library): a function that can fail
 * returns int; >= 0 is success (a count or size where that is useful), < 0 is
 * one of the EM_E* codes below.  A function that fails has not consumed a
 * message or registered a callback unless its contract says otherwise.
 *
 * XX(name, text): EM_<name> is the (negative) code, em_strerror() the text. */
#define EM_ERR_MAP(XX)                                                        \
    XX(ENOMEM, "out of memory")                                               \
    XX(EINVAL, "invalid argument")                                            \
    XX(ETRUNC, "input ends inside a term")                                    \
    XX(EBADVER, "external term does not start with version byte 131")        \
    XX(EBADTAG, "unknown or unsupported external term tag")                   \
    XX(EBADATOM, "atom text is not valid UTF-8 (or Latin-1 for its tag)")    \
    XX(EATOMLEN, "atom longer than 255 characters")                           \
    XX(EATOMTAB, "atom table is full")                                        \
    XX(EDUPKEY, "duplicate key in map")                                       \
    XX(EDEPTH, "term nested deeper than the decoder's limit")                 \
    XX(ELENGTH, "length field larger than the remaining input")               \
    XX(EBADTERM, "malformed external term")                                   \
    XX(EZLIB, "corrupt compressed term")                                      \
    XX(ETRAILING, "bytes left after the term")                                \
    XX(ETOOBIG, "term too large for the external format")                     \
    XX(ESYNTAX, "syntax error in term text")                                  \
    XX(EBADARG, "bad argument")                                               \
    XX(ENOPROC, "no such process")                                            \
    XX(ETIMEDOUT, "timed out")                                                \
    XX(EEXIST, "already exists")                                              \
    XX(ENOTSUP, "not supported")                                              \
    XX(EPROTO, "protocol violation")                                          \
    XX(EAUTH, "authentication failed")                                        \
    XX(EIO, "input/output error")                                             \
    XX(ECONNREFUSED, "connection refused")                                    \
    XX(ECLOSED, "connection closed")                                          \
    XX(ENOTFOUND, "not found")                                                \
    XX(ECANCELED, "operation canceled (the process is being killed)")       \
    XX(ESTATE, "wrong state for this operation")                             \
    XX(ENOEPMD, "no port mapper answers and ember-epmd could not be started") \
    XX(ESTART, "a process failed to start")                                   \
    XX(EEXIT, "the called process exited (its reason is returned)")          \
    XX(ENOCONN, "no connection to the node")

enum em_err_ix_ {
#define EM_XX_(name, text) EM_IX_##name##_,
    EM_ERR_MAP(EM_XX_)
#undef EM_XX_
    EM_IX_COUNT_
};

enum {
#define EM_XX_(name, text) EM_##name = -(1 + EM_IX_##name##_),
    EM_ERR_MAP(EM_XX_)
#undef EM_XX_
    EM_OK = 0
};

/* em_strerror: a constant English sentence for code `err` ("success" for 0,
 * "unknown error" for codes outside the table).
 * em_err_name: the code's name without the prefix ("ENOMEM").
 * Yields: no. Allocates: no. Thread: any. */
EM_API const char *em_strerror(int err);
EM_API const char *em_err_name(int err);

/* A growable byte buffer.  {NULL, 0, 0} (EM_BUF_INIT) is a valid empty
 * buffer; the library grows `data` with realloc.  The caller owns `data` and
 * releases it with em_buf_free() (or free(data)). */
typedef struct em_buf {
    uint8_t *data; /* len bytes are valid, cap are allocated */
    size_t len;
    size_t cap;
} em_buf;
#define EM_BUF_INIT {NULL, 0, 0}

/* em_buf_reserve: make room for `extra` more bytes; 0 or EM_ENOMEM (the
 * buffer is unchanged on failure).  em_buf_append: reserve then copy.
 * em_buf_free: release data and reset to empty (NULL is a no-op).
 * Yields: no. Allocates: yes. Thread: any (one buffer, one thread). */
EM_API int em_buf_reserve(em_buf *b, size_t extra);
EM_API int em_buf_append(em_buf *b, const void *data, size_t n);
EM_API void em_buf_free(em_buf *b);

#endif /* EM_TERM_COMMON_H */

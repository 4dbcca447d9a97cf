/* etf_encode.h: what the encoder (etf_encode.c) offers the distribution
 * beyond <ember/etf.h>: a control message and its payload encoded straight
 * into the caller's buffers, with the caller's header in front, large
 * binaries handed over by reference instead of copied, and the size known
 * before anything is written.
 *
 * The seam between term/ and net/: net/dist_out.c (the out-queue) includes
 * it; nothing else outside term/ does, and nothing outside term/ knows the
 * external format's tags.  Private to ember.
 *
 * The bytes are those of em_etf_encode(ctl, EM_ETF_DIST) followed by those
 * of em_etf_encode(msg, EM_ETF_DIST), each with its 131: the walk that
 * writes them is the one that measured them (with the same local node), so
 * the size given in advance is the size written. */
#ifndef EM_TERM_ETF_ENCODE_H
#define EM_TERM_ETF_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include <ember/common.h>
#include <ember/term.h>

/* Where em__etf_encode_msg writes: the caller's buffers, through three
 * calls made in this order: room once, then commit and ref as the output
 * goes (commit for the bytes written into the room since the last commit,
 * ref for a large binary); nothing is part of the output until committed
 * or referenced.  A negative result (an EM_E* code) stops the encoding
 * and is returned; what was committed or referenced before stays with the
 * caller (to undo). */
typedef struct em__etf_sink {
    /* Room for n contiguous bytes (n >= 1), all of the bytes the encoding
     * will copy; NULL if out of memory.  The room stays the caller's
     * until the encoding returns: after a commit of k bytes, the rest of
     * it is still there, from room + k on. */
    uint8_t *(*room)(void *ud, size_t n);
    /* The next n bytes of the room (n >= 1) are output. */
    int (*commit)(void *ud, size_t n);
    /* The next output is data[0 .. n), the bytes of the binary `bin`
     * (borrowed: to keep data, em_dup(bin)). */
    int (*ref)(void *ud, em_term bin, const uint8_t *data, size_t n);
    void *ud;
} em__etf_sink;

/* A message measured for em__etf_encode_msg (em__etf_encode_msg_size
 * fills it; read size and copied, do not change it). */
typedef struct em__etf_msg {
    em_term ctl, msg;  /* borrowed; msg EM_NONE for none */
    size_t size;       /* bytes of the two encodings, 131s included */
    size_t copied;     /* of size, those written into the room (the rest
                          are binaries handed to ref) */
    size_t ref_min;
    em_term node;      /* the local node and creation as measured */
    uint32_t creation;
} em__etf_msg;

/* em__etf_encode_msg_size: measure ctl (and msg, unless EM_NONE; both
 * borrowed, and they must live until em__etf_encode_msg returns) into *m.
 * Binaries (and bitstrings) of at least ref_min bytes are to be handed to
 * the sink by reference (SIZE_MAX: none).
 * Returns 0, or EM_EINVAL (ctl is EM_NONE, or a term is not valid),
 * EM_ETOOBIG (a length does not fit the format), EM_ENOMEM.
 * Allocates: only a traversal stack for terms nested deeper than 32
 * levels.  Thread: any. */
int em__etf_encode_msg_size(em__etf_msg *m, em_term ctl, em_term msg, size_t ref_min);

/* em__etf_encode_msg: write head[0 .. nhead) (the caller's header, e.g.
 * the distribution's length and pass-through byte: m->size is known, so
 * the header may give it), then the encodings of m's terms, into s.  The
 * room asked for is nhead + m->copied bytes.
 * Returns 0, or EM_ENOMEM (room failed), or what commit or ref returned,
 * or EM_ENOMEM for a traversal stack (terms nested deeper than 32
 * levels); on error the sink may hold part of the output.
 * Allocates: only that stack.  Thread: any. */
int em__etf_encode_msg(const em__etf_msg *m, const uint8_t *head, size_t nhead,
                       const em__etf_sink *s);

#endif /* EM_TERM_ETF_ENCODE_H */

/* term.h: Erlang terms in C: values, atoms, construction, inspection,
 * comparison, hashing, printing (~p, ~w), parsing Erlang term syntax and
 * compiled patterns.
 * Public: installed as <ember/term.h>; users include <ember.h>.
 *
 * THE MEMORY MODEL (decision 1: see docs/term-memory.md)
 *
 * An em_term is a 64-bit value.  Terms are immutable.  Some terms are
 * immediates and own nothing: small integers, atoms, [] and pids of the local
 * node.  All other terms (tuples, lists, maps, binaries, floats, bignums,
 * remote pids, references, ports, funs) point to a shared, reference-counted
 * box.  Reference counts are atomic, so a term may be read and released from
 * any thread; a local send passes the pointer, it never copies.
 *
 * Ownership, the four rules every function in ember follows:
 *  1. A term you get from a constructor, a decoder, a parser or em_dup() is
 *     a reference you own: you release it exactly once, with em_drop(), or
 *     you give it away.
 *  2. Constructors and senders TAKE their term arguments (even when they
 *     fail): em_tuple(2, a, b) consumes a and b, so a nested term is built in
 *     one expression and released with one em_drop() of the outer term.
 *     Never free parts one by one.
 *  3. Accessors (em_tuple_get, em_hd, em_map_get, pattern bindings, ...)
 *     BORROW: the result lives as long as the term it came from.  To keep it
 *     longer, or to give it to a constructor, take a reference with em_dup().
 *  4. EM_NONE is "no term".  A constructor that runs out of memory returns
 *     EM_NONE, and a constructor given EM_NONE as an argument releases its
 *     other arguments and returns EM_NONE, so one check at the end of a
 *     nested construction is enough.  em_drop(EM_NONE) is a no-op.
 *
 * Releasing a term never recurses on the C stack (terms 100,000 deep are
 * fine on a small process stack).  A term decoded from the external format
 * lives in one allocation: references into it keep the whole block alive
 * (and, decoded with em_etf_decode_bin, the input binary its large binaries
 * point into).
 *
 * Thread: everything here may be called from any thread unless a function
 * says otherwise.  Nothing here yields.
 */
#ifndef EM_TERM_TERM_H
#define EM_TERM_TERM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ember/common.h>

typedef uint64_t em_term;

/* "No term": the result of a failed constructor, an absent map key, ... */
#define EM_NONE ((em_term)0)
/* The empty list []. */
#define EM_NIL ((em_term)0x6)

/* Term types, in Erlang's term order:
 * number < atom < reference < fun < port < pid < tuple < map < [] < list
 * < bitstring. */
typedef enum em_type {
    EM_TYPE_NONE = 0, /* EM_NONE */
    EM_TYPE_INTEGER,  /* small or big */
    EM_TYPE_FLOAT,
    EM_TYPE_ATOM,
    EM_TYPE_REF,
    EM_TYPE_FUN, /* a closure or an export (fun M:F/A), carried opaquely */
    EM_TYPE_PORT,
    EM_TYPE_PID,
    EM_TYPE_TUPLE,
    EM_TYPE_MAP,
    EM_TYPE_NIL,
    EM_TYPE_LIST, /* a cons cell, proper or improper */
    EM_TYPE_BINARY /* a binary or a bitstring */
} em_type;

/* The type of t.  Allocates: no. */
EM_API em_type em_typeof(em_term t);
static inline bool em_is_nil(em_term t) { return t == EM_NIL; }

/* ---- Reference counting --------------------------------------------------
 * em_dup: take one more reference to t; returns t.
 * em_drop: release one reference; the last release frees the term and
 * everything only it referred to.  Both are no-ops for immediates and
 * EM_NONE.  Allocates: no. */
EM_API em_term em_dup(em_term t);
EM_API void em_drop(em_term t);

/* ---- Atoms ----------------------------------------------------------------
 * Atoms live in one global table for the life of the program (atoms are never
 * freed, as in Erlang).  Names are UTF-8, at most 255 characters.
 *
 * em_atom_new: intern `len` bytes of UTF-8 `name`.  Returns 0 and sets *out,
 * or EM_EBADATOM (not UTF-8), EM_EATOMLEN (> 255 characters), EM_EATOMTAB
 * (the table is full), EM_ENOMEM, EM_EINVAL (name NULL with len > 0).
 * em_atom: the same for a NUL-terminated name; EM_NONE on error.
 * em_atom_text: the atom's UTF-8 text (NUL-terminated, owned by the table,
 * valid forever), its byte length in *len if len is not NULL; NULL if a is
 * not an atom.
 * em_atom_count: number of atoms in the table.
 * Allocates: em_atom/em_atom_new on first sight of a name. */
EM_API int em_atom_new(const char *name, size_t len, em_term *out);
EM_API em_term em_atom(const char *name);
EM_API const char *em_atom_text(em_term a, size_t *len);
EM_API size_t em_atom_count(void);
/* The atoms true/false. */
EM_API em_term em_bool(bool b);

/* ---- Numbers --------------------------------------------------------------
 * em_int / em_uint: an integer (small or big as the value needs).
 * em_bigint: the integer whose magnitude is the `n` bytes of `le` (little
 * endian) with sign `negative`; normalised (a value that fits a small integer
 * becomes one).  em_float: a float (finite; NaN and infinities give EM_NONE:
 * Erlang has none).  All return EM_NONE when out of memory.
 *
 * em_int_get: the integer's value if it fits int64_t: 0, or EM_EBADARG (not
 * an integer), EM_ETOOBIG (does not fit).
 * em_bigint_bytes: sign and little-endian magnitude of any integer: writes
 * at most cap bytes and returns the number of bytes the magnitude needs
 * (call with cap 0 to size), or EM_EBADARG.
 * em_float_get: 0, or EM_EBADARG if t is not a float. */
EM_API em_term em_int(int64_t v);
EM_API em_term em_uint(uint64_t v);
EM_API em_term em_bigint(bool negative, const uint8_t *le, size_t n);
EM_API em_term em_float(double v);
EM_API int em_int_get(em_term t, int64_t *out);
EM_API int em_bigint_bytes(em_term t, bool *negative, uint8_t *le, size_t cap);
EM_API int em_float_get(em_term t, double *out);

/* ---- Tuples ---------------------------------------------------------------
 * em_tuple(n, e1, ..., en): a tuple; takes the n em_term arguments.
 * em_tuplev: the same from an array (takes the n terms in it).
 * em_tuple_size: arity, or -1 if t is not a tuple.
 * em_tuple_get: element i (0-based), borrowed; EM_NONE if t is not a tuple or
 * i is out of range. */
EM_API em_term em_tuple(size_t n, ...);
EM_API em_term em_tuplev(size_t n, const em_term *elems);
/* em_tuple_packed(a): em_tuple(a[0], a[1], ..., a[a[0]]): a[0] is the arity
 * n, a[1..n] the elements (taken, as em_tuple takes them; what a holds past
 * a[n] is not read).  Returns the tuple, or EM_NONE as em_tuple does (out
 * of memory, an element EM_NONE: the others are released).
 *
 * What the em_tuple macro below calls: em_tuple(n, e1, ..., en) passes its
 * arguments in an array, {n, e1, ..., en}, instead of as variadic
 * arguments, which a small tuple pays for more than for building it (a
 * message like {self(), ping} is made at each send).  The same tuple, and
 * the same arguments taken; each argument is converted to em_term, as
 * em_tuple's contract expects them to be.  (em_tuple)(...), in
 * parentheses, calls the function itself. */
EM_API em_term em_tuple_packed(const em_term *a);
#if !defined(__cplusplus)
#define em_tuple(...) em_tuple_packed((const em_term[]){__VA_ARGS__})
#endif
EM_API long em_tuple_size(em_term t);
EM_API em_term em_tuple_get(em_term t, size_t i);

/* ---- Lists ----------------------------------------------------------------
 * em_cons(h, t): [H|T]; takes h and t.
 * em_list(n, e1, ..., en): a proper list; takes the arguments.
 * em_listv: from an array; em_listv_tail: with tail `tail` instead of [].
 * em_string: the list of Unicode code points of the UTF-8 text `s` (as
 * Erlang's "..." is); EM_NONE if s is not valid UTF-8.
 * em_string_len: the same for `len` bytes.
 * em_hd / em_tl: borrowed head and tail; EM_NONE if t is not a cons cell.
 * em_list_length: number of elements of a proper list, -1 otherwise. */
EM_API em_term em_cons(em_term h, em_term t);
EM_API em_term em_list(size_t n, ...);
EM_API em_term em_listv(size_t n, const em_term *elems);
EM_API em_term em_listv_tail(size_t n, const em_term *elems, em_term tail);
EM_API em_term em_string(const char *s);
EM_API em_term em_string_len(const char *s, size_t len);
EM_API em_term em_hd(em_term t);
EM_API em_term em_tl(em_term t);
EM_API long em_list_length(em_term t);

/* ---- Binaries and bitstrings ----------------------------------------------
 * em_binary: a binary holding a copy of `n` bytes at `data`.
 * em_bitstring: a bitstring of `nbits` bits, MSB first, copied from data
 * ((nbits + 7) / 8 bytes; unused low bits of the last byte are cleared).
 * em_binary_data: pointer to the bytes (borrowed, valid while t lives) and
 * the length in bits in *nbits if not NULL; NULL if t is not a bitstring.
 * em_binary_size: the size in whole bytes rounded up, -1 if not a bitstring. */
EM_API em_term em_binary(const void *data, size_t n);
EM_API em_term em_bitstring(const void *data, size_t nbits);
EM_API const uint8_t *em_binary_data(em_term t, size_t *nbits);
EM_API long em_binary_size(em_term t);

/* ---- Maps -----------------------------------------------------------------
 * em_map(n, k1, v1, ..., kn, vn): a map of n pairs; takes the 2n arguments.
 * When a key appears twice the later value wins (as maps:from_list/1).
 * em_mapv: the same from two arrays.
 * em_map_size: number of pairs, -1 if not a map.
 * em_map_get: value for `key` (borrowed; key is borrowed too), EM_NONE if
 * absent or t is not a map.  Keys match with =:= (exact equality).
 * em_map_key / em_map_value: the i-th pair in the map's order (keys sorted
 * in Erlang's exact term order), borrowed. */
EM_API em_term em_map(size_t n, ...);
EM_API em_term em_mapv(size_t n, const em_term *keys, const em_term *values);
EM_API long em_map_size(em_term t);
EM_API em_term em_map_get(em_term t, em_term key);
EM_API em_term em_map_key(em_term t, size_t i);
EM_API em_term em_map_value(em_term t, size_t i);

/* ---- Pids, references, ports, funs ---------------------------------------
 * Identifiers carry their node (an atom) and creation.  Pids of the local
 * node (see em_local_node_set) are immediates; all others are boxed.
 *
 * em_pid: the pid <node, id, serial, creation>.  em_ref: a reference with
 * 1..5 32-bit words (opaque; compared word by word).  em_port: a port.
 * Node is an atom, borrowed.  EM_NONE on bad arguments or no memory.
 * em_pid_parts / em_ref_parts / em_port_parts: take them apart (node
 * borrowed; pointers may be NULL); 0 or EM_EBADARG.  em_ref_parts copies at
 * most 5 words and returns their number.
 *
 * Funs (closures and exports) are carried opaquely: em_fun_bytes gives the
 * external-format bytes of the fun (from its tag byte on; borrowed), so it
 * round-trips byte for byte; NULL if t is not a fun. */
EM_API em_term em_pid(em_term node, uint32_t id, uint32_t serial,
                      uint32_t creation);
EM_API em_term em_ref(em_term node, uint32_t creation, const uint32_t *words,
                      size_t nwords);
EM_API em_term em_port(em_term node, uint64_t id, uint32_t creation);
EM_API int em_pid_parts(em_term t, em_term *node, uint32_t *id,
                        uint32_t *serial, uint32_t *creation);
EM_API int em_ref_parts(em_term t, em_term *node, uint32_t *creation,
                        uint32_t words[5]);
EM_API int em_port_parts(em_term t, em_term *node, uint64_t *id,
                         uint32_t *creation);
EM_API const uint8_t *em_fun_bytes(em_term t, size_t *len);

/* The local node: its name (an atom, 'nonode@nohost' until a node starts)
 * and creation (0 until then).  Pids whose node and creation are these are
 * local pids.  The distribution layer sets it when the node starts; call it
 * before processes exchange pids with other nodes.  Thread: any. */
EM_API void em_local_node_set(em_term name, uint32_t creation);
EM_API em_term em_local_node(uint32_t *creation);

/* ---- Comparison and hashing ----------------------------------------------
 * em_compare: Erlang's term order as `<` and `==` see it (numbers compare by
 * value, so em_compare(1, 1.0) == 0): <0, 0 or >0.
 * em_compare_exact: the exact order used for map keys (=:=, and every
 * integer sorts before every float): 0 only for =:= terms.
 * em_equal: A =:= B.
 * em_hash: a 64-bit hash consistent with em_equal.
 * None of these allocate or recurse on the C stack. */
EM_API int em_compare(em_term a, em_term b);
EM_API int em_compare_exact(em_term a, em_term b);
EM_API bool em_equal(em_term a, em_term b);
EM_API uint64_t em_hash(em_term t);

/* ---- Printing -------------------------------------------------------------
 * em_print: print t as io_lib:format("~p", [T]) does for terms that fit on
 * one line (EM_PRINT_P), or as "~w" (EM_PRINT_W), UTF-8 encoded, into buf
 * (at most cap bytes including a terminating NUL, as snprintf).  Returns the
 * length the full text needs (excluding the NUL), or EM_EINVAL / EM_ENOMEM.
 * em_print_buf: append the text to a growable buffer (no NUL); 0 or error.
 * em_print_alloc: the text in a new NUL-terminated string the caller
 * frees with free(); NULL on error.
 *
 * em_format / em_printf / em_fprintf: a small io:format.  Directives: ~p and
 * ~w (the next argument is an em_term, borrowed), ~s (a const char *), ~n
 * (newline), ~~.  em_format appends to b; the others write to a stream and
 * flush it.  Return 0 or a negative error (EM_EINVAL for an unknown
 * directive). */
enum { EM_PRINT_P = 0, EM_PRINT_W = 1 };
EM_API int em_print(char *buf, size_t cap, em_term t, int mode);
EM_API int em_print_buf(em_buf *b, em_term t, int mode);
EM_API char *em_print_alloc(em_term t, int mode);
EM_API int em_format(em_buf *b, const char *fmt, ...);
EM_API int em_vformat(em_buf *b, const char *fmt, va_list ap);
EM_API int em_printf(const char *fmt, ...);
EM_API int em_fprintf(FILE *f, const char *fmt, ...);

/* ---- Parsing Erlang term syntax ------------------------------------------
 * Atoms ('quoted' too), integers (10, -3, 16#ff, $a, 1_000), floats (1.5,
 * 2.0e-3), strings "...", tuples, lists ([1,2], [H|T] with terms, "a" "b"
 * concatenation), binaries (<<1,2>>, <<"abc">>, <<1:3>>), maps (#{k => v}),
 * and pids written as <0.N.S> (local pids).  Text must hold exactly one term,
 * optionally followed by a '.'.
 *
 * em_parse_term: 0 and *out (owned), or EM_ESYNTAX with *err filled in (err
 * may be NULL), EM_ENOMEM.
 * em_parse: convenience for a NUL-terminated text; EM_NONE on error. */
typedef struct em_parse_error {
    size_t offset;      /* byte offset of the error in the text */
    int line, column;   /* 1-based */
    char reason[96];    /* e.g. "expected ',' or '}'" */
} em_parse_error;
EM_API int em_parse_term(const char *text, size_t len, em_term *out,
                         em_parse_error *err);
EM_API em_term em_parse(const char *text);

/* ---- Patterns --------------------------------------------------------------
 * A pattern is Erlang term syntax with variables: `{From, {ok, Value}}`.
 * `_` matches anything.  A named variable (starting with an upper-case
 * letter or `_`) matches anything the first time and must be =:= to that
 * term at every later occurrence.  Variables whose names do not start with
 * `_` are bound, in order of first appearance, to the caller's out slots;
 * `_Name` variables take no slot.
 *
 * em_pattern_compile: 0 and *out (free with em_pattern_free), or EM_ESYNTAX
 * (*err filled in when err is not NULL), EM_ENOMEM.
 * em_pattern_nvars: number of out slots.
 * em_pattern_var_name: name of slot i, NULL if out of range.
 * em_pattern_match: true if t matches; then binds[0 .. nvars) hold the
 * bindings, BORROWED from t.  binds may be NULL when nvars is 0.  On no match
 * binds is left in an unspecified state.  Does not allocate; does not
 * recurse on the C stack.
 * em_match: compile, match and free in one call; out slots are the
 * em_term * arguments after t, one per slot.  Returns 1 on match, 0 on no
 * match, or a negative error.
 * A compiled pattern is immutable: it may be matched from many threads. */
typedef struct em_pattern em_pattern;
EM_API int em_pattern_compile(const char *text, em_pattern **out,
                              em_parse_error *err);
EM_API void em_pattern_free(em_pattern *p);
EM_API size_t em_pattern_nvars(const em_pattern *p);
EM_API const char *em_pattern_var_name(const em_pattern *p, size_t i);
EM_API bool em_pattern_match(const em_pattern *p, em_term t, em_term *binds);
EM_API int em_match(const char *pattern, em_term t, ...);

#endif /* EM_TERM_TERM_H */

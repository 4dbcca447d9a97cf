/* atom.c: the global atom table.
 *
 * Atoms are interned once and live until the program exits (as in Erlang).
 * An atom term carries its index; the text is found through a two-level
 * array of entries that never moves, so em_atom_text() needs no lock.
 *
 * Lookup by name is lock-free: an open-addressing hash table of indexes
 * (slot = index + 1, 0 = empty).  Writers hold `lock`; they fill in the entry
 * first and then publish the slot with a release store, so a reader that
 * acquires a non-zero slot sees a complete entry.  Growing builds a new table
 * and publishes its pointer with a release store; a reader still probing the
 * old table may miss an atom added since, and then takes the locked slow
 * path, which re-probes the current table.  Old tables are kept (never
 * freed), because a reader may still be probing them; they are small next to
 * the atoms themselves.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "term_int.h"

#define CHUNK_BITS EM__ATOM_CHUNK_BITS
#define CHUNK_SIZE EM__ATOM_CHUNK
#define ATOM_MAX (1u << 22) /* 4,194,304 atoms */
#define NCHUNKS (ATOM_MAX / CHUNK_SIZE)
#define MAX_CHARS 255

typedef struct htab {
    uint32_t mask;              /* size - 1, size a power of two */
    struct htab *older;         /* previous table (kept, see above) */
    _Atomic uint32_t slots[];   /* atom index + 1, or 0 */
} htab;

_Atomic(em__atom_info *) em__atom_chunks[NCHUNKS];
#define chunks em__atom_chunks
static _Atomic uint32_t natoms;          /* entries published */
static _Atomic(htab *) table;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
/* Set (release) once the predefined atoms are in: before that, other
 * threads must wait in pthread_once, or an atom they intern could take a
 * predefined atom's fixed index. */
_Atomic int em__atom_ready;
#define ready em__atom_ready

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3u;
    }
    return h ^ (h >> 29);
}

static inline void ensure_init(void);

/* The entry of atom ix (the table is initialised). */
static const em__atom_info *entry(uint32_t ix)
{
    em__atom_info *c = atomic_load_explicit(&chunks[ix >> CHUNK_BITS], memory_order_acquire);
    return &c[ix & (CHUNK_SIZE - 1)];
}


/* Probe t for name; returns index + 1 or 0. */
static uint32_t probe(const htab *t, const char *name, size_t len, uint64_t h)
{
    for (uint32_t i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
        uint32_t s = atomic_load_explicit(&t->slots[i], memory_order_acquire);
        if (s == 0)
            return 0;
        const em__atom_info *e = entry(s - 1);
        if (e->len == len && memcmp(e->text, name, len) == 0)
            return s;
    }
}

static void place(htab *t, uint32_t ix)
{
    const em__atom_info *e = entry(ix);
    uint64_t h = hash_bytes(e->text, e->len);
    uint32_t i = (uint32_t)h & t->mask;
    while (atomic_load_explicit(&t->slots[i], memory_order_relaxed) != 0)
        i = (i + 1) & t->mask;
    atomic_store_explicit(&t->slots[i], ix + 1, memory_order_release);
}

static htab *htab_new(uint32_t size)
{
    htab *t = calloc(1, sizeof *t + (size_t)size * sizeof(uint32_t));
    if (t)
        t->mask = size - 1;
    return t;
}

/* Add a new atom; caller holds lock and has checked it is absent.
 * Text is valid UTF-8 of nchars characters. */
static int insert_locked(const char *name, size_t len, uint16_t nchars, bool latin1, em_term *out)
{
    uint32_t ix = atomic_load_explicit(&natoms, memory_order_relaxed);
    if (ix >= ATOM_MAX)
        return EM_EATOMTAB;
    htab *t = atomic_load_explicit(&table, memory_order_relaxed);
    if ((ix + 1) * 2 > t->mask + 1) { /* keep the load factor under 1/2 */
        htab *n = htab_new((t->mask + 1) * 2);
        if (n == NULL)
            return EM_ENOMEM;
        n->older = t;
        for (uint32_t i = 0; i < ix; i++)
            place(n, i);
        atomic_store_explicit(&table, n, memory_order_release);
        t = n;
    }
    em__atom_info *c = atomic_load_explicit(&chunks[ix >> CHUNK_BITS], memory_order_relaxed);
    if (c == NULL) {
        c = calloc(CHUNK_SIZE, sizeof *c);
        if (c == NULL)
            return EM_ENOMEM;
        atomic_store_explicit(&chunks[ix >> CHUNK_BITS], c, memory_order_release);
    }
    char *text = malloc(len + 1);
    if (text == NULL)
        return EM_ENOMEM;
    memcpy(text, name, len);
    text[len] = 0;
    em__atom_info *e = &c[ix & (CHUNK_SIZE - 1)];
    e->text = text;
    e->len = (uint16_t)len;
    e->nchars = nchars;
    e->latin1 = latin1;
    atomic_store_explicit(&natoms, ix + 1, memory_order_release);
    place(t, ix); /* publishes: release store of the slot */
    *out = em__atom(ix);
    return 0;
}

/* Validate UTF-8 and count characters; -1 if invalid. */
static int count_chars(const char *name, size_t len, bool *latin1)
{
    int n = 0;
    *latin1 = true;
    for (size_t i = 0; i < len;) {
        uint8_t c = (uint8_t)name[i];
        if (c < 0x80) {
            i++;
        } else {
            uint32_t cp;
            int k = em__utf8_decode((const uint8_t *)name + i, len - i, &cp);
            if (k == 0)
                return -1;
            if (cp > 255)
                *latin1 = false;
            i += (size_t)k;
        }
        n++;
    }
    return n;
}

static int intern(const char *name, size_t len, em_term *out)
{
    bool latin1;
    if (len > MAX_CHARS * 4)
        return count_chars(name, len, &latin1) < 0 ? EM_EBADATOM : EM_EATOMLEN;
    uint64_t h = hash_bytes(name, len);
    uint32_t s = probe(atomic_load_explicit(&table, memory_order_acquire), name, len, h);
    if (s) {
        *out = em__atom(s - 1);
        return 0;
    }
    int nchars = count_chars(name, len, &latin1);
    if (nchars < 0)
        return EM_EBADATOM;
    if (nchars > MAX_CHARS)
        return EM_EATOMLEN;
    pthread_mutex_lock(&lock);
    s = probe(atomic_load_explicit(&table, memory_order_relaxed), name, len, h);
    int rc = 0;
    if (s)
        *out = em__atom(s - 1);
    else
        rc = insert_locked(name, len, (uint16_t)nchars, latin1, out);
    pthread_mutex_unlock(&lock);
    return rc;
}

static void init_table(void)
{
    /* The predefined atoms, in the order of the EM__A_* enum (term_seam.h). */
    static const char *const predefined[EM__A_COUNT_] = {
        "", "false", "true", "nonode@nohost", "undefined", "ok", "error", "normal",
    };
    htab *t = htab_new(1024);
    if (t == NULL)
        abort(); /* cannot run without the table; at start-up only */
    atomic_store_explicit(&table, t, memory_order_release);
    for (int i = 0; i < EM__A_COUNT_; i++) {
        em_term a;
        pthread_mutex_lock(&lock);
        int rc = insert_locked(predefined[i], strlen(predefined[i]),
                               (uint16_t)strlen(predefined[i]), true, &a);
        pthread_mutex_unlock(&lock);
        if (rc < 0 || em__atom_ix(a) != (uint32_t)i)
            abort();
    }
    atomic_store_explicit(&ready, 1, memory_order_release);
}

void em__atom_init(void)
{
    pthread_once(&once, init_table);
}

static inline void ensure_init(void)
{
    if (!atomic_load_explicit(&ready, memory_order_acquire))
        pthread_once(&once, init_table);
}

EM_API int em_atom_new(const char *name, size_t len, em_term *out)
{
    ensure_init();
    if (name == NULL && len)
        return EM_EINVAL;
    return intern(name ? name : "", len, out);
}

EM_API em_term em_atom(const char *name)
{
    em_term a;
    if (name == NULL || em_atom_new(name, strlen(name), &a) < 0)
        return EM_NONE;
    return a;
}

int em__atom_latin1(const uint8_t *s, size_t len, em_term *out)
{
    ensure_init();
    if (len > MAX_CHARS)
        return EM_EATOMLEN;
    char tmp[MAX_CHARS * 2];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x80) {
            tmp[n++] = (char)s[i];
        } else {
            tmp[n++] = (char)(0xc0 | (s[i] >> 6));
            tmp[n++] = (char)(0x80 | (s[i] & 0x3f));
        }
    }
    return intern(tmp, n, out);
}

EM_API const char *em_atom_text(em_term a, size_t *len)
{
    if (!em__is_atom(a))
        return NULL;
    ensure_init();
    const em__atom_info *e = em__atom_get(em__atom_ix(a));
    if (len)
        *len = e->len;
    return e->text;
}

EM_API size_t em_atom_count(void)
{
    ensure_init();
    return atomic_load_explicit(&natoms, memory_order_acquire);
}

EM_API em_term em_bool(bool b)
{
    return b ? EM__ATOM_TRUE : EM__ATOM_FALSE;
}

/* mem.c: giving idle memory back to the kernel.
 *
 * ember keeps memory it may need again soon: message nodes and their
 * blocks (mbox.c), small boxes and large blocks (term/term.c), the pages
 * its stack slots once touched (stack.c), and glibc's malloc keeps what
 * was freed in the middle of its heaps (it only trims a heap's top, and a
 * single live block above a freed region pins it all).  After a burst (many
 * messages queued to one process, then drained) the node's RSS stayed at
 * its peak, many times what was still live (docs/perf.md).
 *
 * So a scheduler that ran processes and then had a quiet second (sched.c,
 * park: TRIM_IDLE_NS, TRIM_BUSY_RUNS) calls em__mem_trim once, between
 * processes: it frees its own thread's caches and the process-wide pools,
 * hands back the dead pages of its stack slots, and has malloc_trim(0)
 * give every arena's free pages back (madvise MADV_DONTNEED of the inside
 * of each free chunk, and the main heap's top).  A busy scheduler never
 * gets here, and an idle one does it once per idle period: the hot paths
 * keep their caches, and pages given back are only faulted in again after
 * a quiet second.  Other threads' per-thread caches (at most a few hundred
 * KiB each) are left to them.
 */
#include <stdlib.h> /* defines __GLIBC__ on glibc */

#include "rt.h"
#include "stack.h"
/* Not under a sanitizer: it replaces malloc, and glibc's malloc_trim then
 * works on glibc's own arenas, which no thread attached to: a thread's
 * exit afterwards fails glibc's assertion in __malloc_arena_thread_freeres
 * (seen under ASan).  The sanitizer's allocator keeps its own caches. */
#if defined(__GLIBC__) && !defined(EM_ASAN) && !defined(EM_TSAN)
#define EM_MALLOC_TRIM 1
#include <malloc.h> /* malloc_trim: glibc's */
#endif

void em__mem_trim(em__sched *s)
{
    em__msg_cache_flush();   /* nodes, the block being carved, spare blocks */
    em__box_cache_flush();   /* this thread's small boxes */
    em__msg_pool_flush();    /* the empty blocks every thread handed in */
    em__big_cache_flush();   /* large binaries and arenas */
    em__stack_trim(s);
#ifdef EM_MALLOC_TRIM
    malloc_trim(0);
#endif
}

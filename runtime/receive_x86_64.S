/* receive_x86_64.S: em_receive_pattern's entry on x86-64 (System V ABI).
 * int em_receive_pattern(int64_t timeout_ms, const em_pattern *p, em_term *binds)
 * Calls em__receive_pattern_in (receive.c) with the same arguments; its
 * result holds the return code (low 32 bits) and whether the process
 * waited (bit 32).  If it did not, `ret`; if it did, back to the caller
 * with an indirect jump.
 *
 * Why: a receive that waited resumes after a switch into another
 * process's frames, and the return stack buffer then holds the calls of
 * the process that switched out, not its own.  The returns inside the
 * receive (the switch's, em__sched_switch_out's, the one to here) are
 * still predicted, since every process makes those calls from the same
 * places; the return to the caller is not, as each process calls from its
 * own place: in a ping-pong that was one mispredicted return per switch,
 * about a third of the round trip (docs/perf.md, fifth round).  The
 * indirect jump is predicted by the indirect branch predictor, which tells
 * the processes apart by the branches each took just before it.  The
 * caller's call then has no `ret`, which would matter if the buffer were
 * still the caller's own; after a switch it is not.  Without a wait the
 * buffer is intact and `ret` is right: a jump there would leave it one
 * entry deep, and the caller's own returns would all be mispredicted.
 * (No shadow stack, CET: the context switch already rules one out.) */
#if defined(__x86_64__)
    .text
    .globl em_receive_pattern
    .type em_receive_pattern, @function
em_receive_pattern:
    .cfi_startproc
    subq $8, %rsp                   /* the stack 16-aligned at the call */
    .cfi_adjust_cfa_offset 8
    call em__receive_pattern_in@PLT
    addq $8, %rsp
    .cfi_adjust_cfa_offset -8
    btq $32, %rax                   /* waited? (%eax is the return code) */
    jc 1f
    ret
1:
    popq %rcx                       /* the caller's return address */
    .cfi_adjust_cfa_offset -8
    .cfi_register %rip, %rcx
    jmp *%rcx
    .cfi_endproc
    .size em_receive_pattern, .-em_receive_pattern
#endif
    .section .note.GNU-stack,"",@progbits

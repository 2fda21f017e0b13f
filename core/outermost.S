/* mproc__call_outermost(fn, arg): calls fn(arg) from a frame the unwinder
 * takes for the outermost one, as glibc marks clone's and start_thread's:
 * its return address is undefined in the call-frame information. A C++
 * exception thrown inside fn then finds no handler beyond this frame — not
 * in the caller's code, which a forked child shares with its parent — and
 * std::terminate runs (core/boundary.c). Costs one call: no stack switch.
 * x86-64 and AArch64; other targets use boundary.c's makecontext path. */
#if defined(__x86_64__)
        .text
        .globl  mproc__call_outermost
        .hidden mproc__call_outermost
        .type   mproc__call_outermost, @function
mproc__call_outermost:
        .cfi_startproc
        .cfi_undefined rip
        pushq   %rbp                    /* realigns the stack for the call */
        .cfi_adjust_cfa_offset 8
        movq    %rdi, %rax
        movq    %rsi, %rdi
        call    *%rax
        popq    %rbp
        .cfi_adjust_cfa_offset -8
        ret
        .cfi_endproc
        .size   mproc__call_outermost, .-mproc__call_outermost
#elif defined(__aarch64__)
        .text
        .globl  mproc__call_outermost
        .hidden mproc__call_outermost
        .type   mproc__call_outermost, %function
mproc__call_outermost:
        .cfi_startproc
        .cfi_undefined x30
        stp     x29, x30, [sp, #-16]!
        .cfi_adjust_cfa_offset 16
        mov     x2, x0
        mov     x0, x1
        blr     x2
        ldp     x29, x30, [sp], #16
        .cfi_adjust_cfa_offset -16
        ret
        .cfi_endproc
        .size   mproc__call_outermost, .-mproc__call_outermost
#endif
        .section .note.GNU-stack,"",%progbits

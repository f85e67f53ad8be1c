/*
 * The compiled-in breakpoint of `tools/metronome debug`.
 *
 *   void metronome_debug_break(uint64_t stop, uint64_t vmcs_physical,
 *                              uint64_t guest_memory_physical, uint64_t guest_index);
 *
 * `xchg %bx, %bx` (66 87 db) is Bochs' "magic breakpoint": with `magic_break: enabled=1` in the
 * bochsrc the simulation drops into the internal debugger right after it, with RIP at
 * metronome_debug_break_stop. The host tool finds the image base as RIP minus that symbol's
 * address in metronome.so. The arguments stay in RDI, RSI, RDX, RCX (SysV) for the person at the
 * debugger prompt. On any other CPU the instruction only swaps BX with itself.
 */
    .text
    .globl metronome_debug_break
    .type metronome_debug_break, @function
metronome_debug_break:
    xchg %bx, %bx
    .globl metronome_debug_break_stop
metronome_debug_break_stop:
    ret
    .size metronome_debug_break, . - metronome_debug_break

    .section .note.GNU-stack, "", @progbits

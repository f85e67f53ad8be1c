/* hello.S: a complete Metronome guest. It prints two lines, counts one unit of progress and
 * powers down with exit code 0. Build (any of gcc/clang/as assembles it):
 *     gcc -c hello.S -o hello.o
 *     ld -Ttext=0x10000 -e _start -o hello.elf hello.o
 *     objcopy -O binary hello.elf hello.bin
 */
    .text
    .global _start
_start:                                 /* GPA 0x10000; RDI = start-info page, RSI = param */
    mov     %rdi, %r12                  /* keep the start-info page */

    /* Console, way 1: port 0xE9, one byte per OUT (each OUT is an exit). */
    lea     line1(%rip), %rsi
    mov     $line1_end - line1, %ecx
    mov     $0xE9, %dx
1:  lodsb
    outb    %al, %dx
    loop    1b

    incq    0x100(%r12)                 /* start_info.progress += 1 */

    /* Console, way 2: hypercall 2 sends the whole line with one exit. */
    mov     $2, %eax                    /* RAX = 2: console write */
    lea     line2(%rip), %rbx           /* RBX = GPA of the bytes (memory is identity-mapped) */
    mov     $line2_end - line2, %ecx    /* RCX = length */
    vmcall                              /* RAX = 0 on success */

    /* Power down: hypercall 1, RBX = exit code. It does not return. */
    mov     $1, %eax
    xor     %ebx, %ebx
    vmcall
2:  hlt
    jmp     2b

line1:  .ascii "hello from port 0xE9\n"
line1_end:
line2:  .ascii "hello from hypercall 2\n"
line2_end:

    .section .note.GNU-stack, "", @progbits

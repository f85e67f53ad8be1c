// leakprobe: register-state leak probe. Each guest running it plants its own secret in every
// register the hypervisor must switch per guest (what VMX does not switch: README, "Isolation"):
// the 15 general registers other than RSP, XMM/YMM 0-15, and with AVX-512 ZMM 0-31 and the opmask
// registers k1-k7, DR0-DR3, CR2, and the MSRs KERNEL_GS_BASE, STAR, LSTAR, CSTAR, FMASK, TSC_AUX
// (when the CPU has RDTSCP), SYSENTER_ESP/EIP, FS_BASE and GS_BASE (KERNEL_GS_BASE and GS_BASE by a
// SWAPGS after writing each the other's secret, as a kernel changes them). Then it loops forever checking
// that every one of them still holds its own value (progress + 1 per check of all of them). Other
// guests run between two checks whenever a slice ends, so a hypervisor that forgets to switch a
// register shows the neighbour's value (a leak) or something else (corruption) at the next check.
// `param`: the secret's seed, 1..0xFFFF, different in each guest. Register i holds
//   0x5EC0'0000'0000 | seed << 16 | i   (canonical, so valid in every address register; the
//                                        32-bit FMASK and TSC_AUX keep the low 32 bits)
// and a value with the same layout but another seed is another guest's secret.
// Lines: "leakprobe: LEAK <register> = <value> (seed S)", "leakprobe: CHANGED <register> =
// <value>", and every 16 slices (gaps in the TSC longer than 20 us between two checks)
// "leakprobe: N slices checked, M checks, K mismatches".
#include "workloads/hostile.hpp"

extern "C" {
// Shared with the assembly below.
std::uint64_t hr_gpr[15];
alignas(64) std::uint64_t hr_vec[32][8];  // ZMM 0-31 (XMM/YMM are their low parts)
alignas(64) std::uint64_t hr_vnot[16][4]; // ~YMM 0-15, for VPTEST
std::uint64_t hr_k[8];
std::uint64_t hr_dr[4];
std::uint64_t hr_cr2;
std::uint32_t hr_msr_number[10];
std::uint64_t hr_msr[10];
std::uint32_t hr_level; // 0 SSE, 1 AVX, 2 AVX-512
std::uint64_t hr_last_tsc, hr_gap_ticks, hr_gaps;
std::uint32_t hr_which;
alignas(64) std::uint64_t hr_value[8]; // what a mismatching register held
[[noreturn]] void hostile_regs_run();
void hr_report_progress();
void hr_report_mismatch();
}

// Codes in hr_which: 0-14 general registers, 32+n vector n (XMM/YMM/ZMM), 96+n k n, 110+n DR n,
// 114 CR2, 115+i MSR i.
asm(R"(
    .text
    .globl hostile_regs_run
hostile_regs_run:
    sub     $8, %rsp                    /* RSP % 16 == 0 at the calls below */
hr_plant:
    cmpl    $2, hr_level(%rip)
    jb      1f
    .set n, 0
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    vmovdqu64 hr_vec+64*\r(%rip), %zmm\r
    .endr
    .irp r, 1,2,3,4,5,6,7
    kmovq   hr_k+8*\r(%rip), %k\r
    .endr
    jmp     3f
1:  cmpl    $1, hr_level(%rip)
    jb      2f
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    vmovdqu hr_vec+64*\r(%rip), %ymm\r
    .endr
    jmp     3f
2:
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    movdqu  hr_vec+64*\r(%rip), %xmm\r
    .endr
3:
    .irp r, 0,1,2,3
    mov     hr_dr+8*\r(%rip), %rax
    mov     %rax, %dr\r
    .endr
    mov     hr_cr2(%rip), %rax
    mov     %rax, %cr2
    .irp i, 0,1,2,3,4,5,6,7,8,9
    mov     hr_msr_number+4*\i(%rip), %ecx
    test    %ecx, %ecx
    jz      4f
    mov     hr_msr+8*\i(%rip), %rax
    mov     %rax, %rdx
    shr     $32, %rdx
    wrmsr
4:
    .endr
    /* KERNEL_GS_BASE gets its secret from SWAPGS, not from a WRMSR: the hypervisor cannot learn
     * it from an exit (SWAPGS makes none), so it must read it back at each switch. */
    mov     hr_msr+8*9(%rip), %rax      /* GS_BASE's secret into KERNEL_GS_BASE, */
    mov     %rax, %rdx
    shr     $32, %rdx
    mov     $0xc0000102, %ecx
    wrmsr
    mov     hr_msr+8*0(%rip), %rax      /* KERNEL_GS_BASE's into GS_BASE, */
    mov     %rax, %rdx
    shr     $32, %rdx
    mov     $0xc0000101, %ecx
    wrmsr
    swapgs                              /* and each holds its own */
    rdtsc
    shl     $32, %rdx
    or      %rdx, %rax
    mov     %rax, hr_last_tsc(%rip)
    .set i, 0
    .irp r, rax,rbx,rcx,rdx,rsi,rdi,rbp,r8,r9,r10,r11,r12,r13,r14,r15
    mov     hr_gpr+8*i(%rip), %\r
    .set i, i+1
    .endr

hr_check:
    incq    0x6100                      /* start_info.progress */
    .set i, 0
    .irp r, rax,rbx,rcx,rdx,rsi,rdi,rbp,r8,r9,r10,r11,r12,r13,r14,r15
    cmp     hr_gpr+8*i(%rip), %\r
    jne     hr_bad_\r
    .set i, i+1
    .endr
    cmpl    $1, hr_level(%rip)
    jb      1f
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    vptest  hr_vec+64*\r(%rip), %ymm\r   /* CF = 1: every bit of the pattern is set */
    jnc     hr_bad_v\r
    vptest  hr_vnot+32*\r(%rip), %ymm\r  /* ZF = 1: no bit outside the pattern is set */
    jnz     hr_bad_v\r
    .endr
    jmp     2f
1:
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    ptest   hr_vec+64*\r(%rip), %xmm\r
    jnc     hr_bad_v\r
    ptest   hr_vnot+32*\r(%rip), %xmm\r
    jnz     hr_bad_v\r
    .endr
2:  /* From here RAX, RCX, RDX are scratch; they are planted again before the next check. */
    cmpl    $2, hr_level(%rip)
    jb      3f
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    vpcmpq  $4, hr_vec+64*\r(%rip), %zmm\r, %k0
    kortestb %k0, %k0
    jnz     hr_bad_v\r
    .endr
    .irp r, 1,2,3,4,5,6,7
    kmovq   %k\r, %rax
    cmp     hr_k+8*\r(%rip), %rax
    jne     hr_bad_k\r
    .endr
3:
    .irp r, 0,1,2,3
    mov     %dr\r, %rax
    cmp     hr_dr+8*\r(%rip), %rax
    jne     hr_bad_dr\r
    .endr
    mov     %cr2, %rax
    cmp     hr_cr2(%rip), %rax
    jne     hr_bad_cr2
    .irp i, 0,1,2,3,4,5,6,7,8,9
    mov     hr_msr_number+4*\i(%rip), %ecx
    test    %ecx, %ecx
    jz      4f
    rdmsr
    shl     $32, %rdx
    or      %rdx, %rax
    cmp     hr_msr+8*\i(%rip), %rax
    jne     hr_bad_msr\i
4:
    .endr
    rdtsc
    shl     $32, %rdx
    or      %rdx, %rax
    mov     %rax, %rcx
    sub     hr_last_tsc(%rip), %rcx
    mov     %rax, hr_last_tsc(%rip)
    cmp     hr_gap_ticks(%rip), %rcx
    jb      5f
    incq    hr_gaps(%rip)
    testq   $15, hr_gaps(%rip)
    jnz     5f
    call    hr_report_progress
    jmp     hr_plant
5:  mov     hr_gpr+0(%rip), %rax
    mov     hr_gpr+16(%rip), %rcx
    mov     hr_gpr+24(%rip), %rdx
    jmp     hr_check

    .set i, 0
    .irp r, rax,rbx,rcx,rdx,rsi,rdi,rbp,r8,r9,r10,r11,r12,r13,r14,r15
hr_bad_\r:
    mov     %\r, hr_value(%rip)
    movl    $i, hr_which(%rip)
    jmp     hr_mismatch
    .set i, i+1
    .endr
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
hr_bad_v\r:
    movl    $32+\r, hr_which(%rip)
    cmpl    $2, hr_level(%rip)
    jb      1f
    vmovdqu64 %zmm\r, hr_value(%rip)
    jmp     hr_mismatch
1:  .if \r < 16
    cmpl    $1, hr_level(%rip)
    jb      2f
    vmovdqu %ymm\r, hr_value(%rip)
    jmp     hr_mismatch
2:  movdqu  %xmm\r, hr_value(%rip)
    .endif
    jmp     hr_mismatch
    .endr
    .irp r, 1,2,3,4,5,6,7
hr_bad_k\r:
    movl    $96+\r, hr_which(%rip)
    jmp     hr_mismatch_rax
    .endr
    .irp r, 0,1,2,3
hr_bad_dr\r:
    movl    $110+\r, hr_which(%rip)
    jmp     hr_mismatch_rax
    .endr
hr_bad_cr2:
    movl    $114, hr_which(%rip)
    jmp     hr_mismatch_rax
    .irp i, 0,1,2,3,4,5,6,7,8,9
hr_bad_msr\i:
    movl    $115+\i, hr_which(%rip)
    jmp     hr_mismatch_rax
    .endr
hr_mismatch_rax:
    mov     %rax, hr_value(%rip)
hr_mismatch:
    call    hr_report_mismatch
    jmp     hr_plant
)");

namespace {

constexpr std::uint64_t tag = 0x5EC0'0000'0000;
std::uint64_t g_seed = 0;
std::uint64_t g_mismatches = 0;

std::uint64_t secret(std::uint64_t i) {
    return tag | (g_seed << 16) | i;
}

constexpr const char* gpr_names[15] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
                                       "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
constexpr const char* msr_names[10] = {"KERNEL_GS_BASE", "STAR",    "LSTAR",        "CSTAR",
                                       "FMASK",          "TSC_AUX", "SYSENTER_ESP", "SYSENTER_EIP",
                                       "FS_BASE",        "GS_BASE"};
constexpr std::uint32_t msr_numbers[10] = {0xc0000102, 0xc0000081, 0xc0000082, 0xc0000083,
                                           0xc0000084, 0xc0000103, 0x175,      0x176,
                                           0xc0000100, 0xc0000101};

void print_register(std::uint32_t which) {
    if (which < 15) {
        guest::print(gpr_names[which]);
    } else if (which >= 32 && which < 64) {
        guest::print(hr_level == 2 ? "zmm" : hr_level == 1 ? "ymm" : "xmm");
        guest::print_dec(which - 32);
    } else if (which >= 96 && which < 104) {
        guest::print("k");
        guest::print_dec(which - 96);
    } else if (which >= 110 && which < 114) {
        guest::print("dr");
        guest::print_dec(which - 110);
    } else if (which == 114) {
        guest::print("cr2");
    } else if (which >= 115 && which < 125) {
        guest::print(msr_names[which - 115]);
    }
}

// Another guest's secret: this layout with another seed (the low 32 bits only for the 32-bit
// MSRs); returns that seed or 0.
std::uint64_t foreign_seed(std::uint64_t value) {
    const std::uint64_t seed = (value >> 16) & 0xffff;
    const bool layout = (value >> 32) == (tag >> 32) || (value >> 32) == 0;
    return layout && seed != 0 && seed != g_seed && (value & 0xffff) < 512 ? seed : 0;
}

void enable_extended_state() {
    const guest::Cpuid one = guest::cpuid(1);
    const bool osxsave = (one.ecx >> 27) & 1u, avx = (one.ecx >> 28) & 1u;
    if (!osxsave || !avx) return;
    const guest::Cpuid d = guest::cpuid(0xd, 0);
    const guest::Cpuid seven = guest::cpuid(7, 0);
    const bool avx512 = (seven.ebx >> 16) & 1u;
    std::uint64_t xcr0 = (d.eax & 0xe7u) | 3u;
    if (!avx512 || (xcr0 & 0xe0u) != 0xe0u) xcr0 &= 7u;
    asm volatile("xsetbv" ::"c"(0), "a"(static_cast<std::uint32_t>(xcr0)), "d"(0) : "memory");
    hr_level = (xcr0 & 0xe0u) == 0xe0u ? 2 : (xcr0 & 4u) != 0 ? 1 : 0;
}

} // namespace

void hr_report_progress() {
    guest::print("leakprobe: ");
    guest::print_dec(hr_gaps);
    guest::print(" slices checked, ");
    guest::print_dec(guest::progress());
    guest::print(" checks, ");
    guest::print_dec(g_mismatches);
    guest::console_line(" mismatches");
    hr_last_tsc = guest::rdtsc(); // the console exit is not a slice boundary
}

void hr_report_mismatch() {
    ++g_mismatches;
    if (g_mismatches > 16) return; // enough said; keep checking
    const std::uint32_t which = hr_which;
    const unsigned lanes = which >= 32 && which < 64 ? 8 : 1;
    for (unsigned lane = 0; lane < lanes; ++lane) {
        const std::uint64_t value = hr_value[lane];
        const std::uint64_t seed = foreign_seed(value);
        if (lanes > 1 && seed == 0 && lane != 0) continue;
        guest::print(seed != 0 ? "leakprobe: LEAK " : "leakprobe: CHANGED ");
        print_register(which);
        if (lanes > 1) {
            guest::print(" lane ");
            guest::print_dec(lane);
        }
        guest::print(" = ");
        guest::print_hex(value);
        if (seed != 0) {
            guest::print(" (seed ");
            guest::print_dec(seed);
            guest::print_char(')');
        }
        guest::print_char('\n');
    }
}

void workloads::hostile_regs(const StartInfo& info) {
    g_seed = info.param & 0xffff;
    if (g_seed == 0) g_seed = 1;
    enable_extended_state();
    for (unsigned i = 0; i < 15; ++i)
        hr_gpr[i] = secret(i);
    for (unsigned r = 0; r < 32; ++r)
        for (unsigned lane = 0; lane < 8; ++lane)
            hr_vec[r][lane] = secret(64 + r * 8 + lane);
    for (unsigned r = 0; r < 16; ++r)
        for (unsigned lane = 0; lane < 4; ++lane)
            hr_vnot[r][lane] = ~hr_vec[r][lane];
    for (unsigned k = 1; k < 8; ++k)
        hr_k[k] = secret(16 + k) & (hr_level == 2 ? ~0ull : 0);
    for (unsigned d = 0; d < 4; ++d)
        hr_dr[d] = secret(40 + d);
    hr_cr2 = secret(44);
    const bool rdtscp = (guest::cpuid(0x8000'0001).edx >> 27) & 1u;
    for (unsigned m = 0; m < 10; ++m) {
        hr_msr_number[m] = msr_numbers[m] == 0xc0000103 && !rdtscp ? 0 : msr_numbers[m];
        const bool narrow = msr_numbers[m] == 0xc0000084 || msr_numbers[m] == 0xc0000103;
        hr_msr[m] = narrow ? secret(48 + m) & 0xffff'ffffu : secret(48 + m);
    }
    hr_gap_ticks = info.tsc_hz / 50000; // 20 us
    guest::print("leakprobe: seed ");
    guest::print_dec(g_seed);
    guest::print(", vector registers ");
    guest::console_line(hr_level == 2 ? "zmm0-31 + k1-7" : hr_level == 1 ? "ymm0-15" : "xmm0-15");
    hostile_regs_run();
}

// The keys of a Linux guest (kernel, initrd, cmdline), the larger memory it may have, and the
// per-guest TSC mode: parsed and checked only (their effect is the hypervisor's).
#include "vmx/config/config.hpp"
#include "vmx/lib/text.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

namespace {

vmx::Config g_cfg; // large: static, as on the target
vmx::ConfigResult g_last;

// The error line of loading `text` with `options`, "" when it loads.
std::string load(const std::string& text, const std::string& options = "") {
    g_last = vmx::load_config(text.data(), text.size(), options.data(), options.size(), g_cfg);
    if (g_last.ok) return "";
    vmx::FixedText<512> t;
    vmx::format_config_error(g_last, "metronome.cfg", t);
    return t.c_str();
}

const vmx::GuestConfig& guest(const char* name) {
    const vmx::GuestConfig* g = vmx::find_guest(g_cfg, name);
    REQUIRE(g != nullptr);
    return *g;
}

std::string cmdline(const char* name) {
    return vmx::config_text(g_cfg, guest(name).cmdline);
}

// A kernel guest whose cmdline line is `line` (after "cmdline").
std::string with_cmdline(const std::string& line) {
    return "[guest k]\nkernel = \\vmlinux\ncmdline" + line + "\n";
}

std::string json() {
    static vmx::FixedText<32768> t;
    t.clear();
    vmx::format_config(g_cfg, t);
    REQUIRE_FALSE(t.truncated());
    return t.c_str();
}

} // namespace

TEST_CASE("kernel keys: a kernel guest with an initrd and a command line") {
    REQUIRE(load("[guest a]\nimage = spin\n[guest linux]\nkernel = \\boot\\vmlinux-6.1\n"
                 "initrd = \\boot\\initrd.img\ncmdline = console=ttyS0 quiet\n") == "");
    const vmx::GuestConfig& k = guest("linux");
    CHECK(k.runs_kernel());
    CHECK(std::string(k.kernel) == "\\boot\\vmlinux-6.1");
    CHECK(std::string(k.initrd) == "\\boot\\initrd.img");
    CHECK(cmdline("linux") == "console=ttyS0 quiet");
    CHECK(k.image[0] == '\0');
    CHECK_FALSE(k.image_is_builtin);
    const vmx::GuestConfig& a = guest("a");
    CHECK_FALSE(a.runs_kernel());
    CHECK(a.initrd[0] == '\0');
    CHECK(cmdline("a").empty());
    const std::string j = json();
    CHECK(j.find("{\"name\":\"linux\",\"kernel\":\"\\\\boot\\\\vmlinux-6.1\",\"initrd\":\"\\\\boot\\\\initrd.img\","
                 "\"cmdline\":\"console=ttyS0 quiet\",\"param\":0,") != std::string::npos);
    CHECK(j.find("{\"name\":\"a\",\"image\":\"spin\",\"builtin\":true,\"param\":0,") != std::string::npos);
    // A kernel alone is enough: no initrd, no command line.
    REQUIRE(load("[guest k]\nkernel = \\vmlinux\n") == "");
    CHECK(cmdline("k").empty());
    CHECK(json().find("cmdline") == std::string::npos);
}

TEST_CASE("kernel keys: a command line is the rest of the line after the first '=', trimmed") {
    // Further '=' belong to the value, so does a value that starts with one.
    REQUIRE(load(with_cmdline(" = root=/dev/vda1 rw init=/sbin/init")) == "");
    CHECK(cmdline("k") == "root=/dev/vda1 rw init=/sbin/init");
    REQUIRE(load(with_cmdline("==x")) == "");
    CHECK(cmdline("k") == "=x");
    // Blanks around the value go; blanks inside stay as written.
    REQUIRE(load(with_cmdline(" \t=   a  b\t\t ")) == "");
    CHECK(cmdline("k") == "a  b");
    // No quoting or escapes of its own: quotes and backslashes reach the kernel, which parses them.
    REQUIRE(load(with_cmdline(" = init=\"/bin/sh -c 'echo hi'\" path=\\x\\y \"")) == "");
    CHECK(cmdline("k") == "init=\"/bin/sh -c 'echo hi'\" path=\\x\\y \"");
    // '#' starts a comment, as everywhere in the file; a CRLF line end is not part of it.
    REQUIRE(load("[guest k]\r\nkernel = \\vmlinux\r\ncmdline = quiet # for now\r\n") == "");
    CHECK(cmdline("k") == "quiet");
    REQUIRE(load(with_cmdline("=quiet#")) == "");
    CHECK(cmdline("k") == "quiet");
    // JSON escapes what needs escaping.
    REQUIRE(load(with_cmdline(" = a=\"b c\" d\\e")) == "");
    CHECK(json().find("\"cmdline\":\"a=\\\"b c\\\" d\\\\e\"") != std::string::npos);
}

TEST_CASE("kernel keys: command lines up to 2047 printable ASCII bytes") {
    const std::string longest(vmx::max_cmdline_length, 'x');
    REQUIRE(load(with_cmdline(" = " + longest)) == "");
    CHECK(cmdline("k") == longest);
    CHECK(load(with_cmdline(" = " + longest + "y")) ==
          "metronome.cfg:3: key 'cmdline': command line is too long (2048 bytes, at most 2047)");
    CHECK(g_last.key == std::string("cmdline"));
    CHECK(load(with_cmdline(" = a\tb")) ==
          "metronome.cfg:3: key 'cmdline': byte 2 of the command line is 0x09: a command line is "
          "printable ASCII (no tabs)");
    CHECK(load(with_cmdline(" = caf\xc3\xa9")).find("byte 4 of the command line is 0xc3") !=
          std::string::npos);
    CHECK(load(with_cmdline(" =   # only a comment")) == "metronome.cfg:3: key 'cmdline': empty value");
    CHECK(load(with_cmdline(" = a\ncmdline = b")) == "metronome.cfg:4: key 'cmdline' is set twice (first on line 3)");
}

TEST_CASE("kernel keys: load options set one word of command line and may replace the file's") {
    REQUIRE(load("[guest k]\nkernel = \\vmlinux\ncmdline = console=ttyS0 quiet\n",
                 "guest.k.cmdline=single") == "");
    CHECK(cmdline("k") == "single");
    CHECK(guest("k").origin[static_cast<unsigned>(vmx::ConfigKey::cmdline)].source ==
          vmx::ConfigSource::load_options);
    REQUIRE(load("[guest k]\nkernel = \\vmlinux\ncmdline = a\n", "guest.k.cmdline=root=/dev/sda1") == "");
    CHECK(cmdline("k") == "root=/dev/sda1");
    REQUIRE(load("[guest k]\nkernel = \\vmlinux\n", "guest.k.initrd=\\i.img guest.k.cmdline=x=y") == "");
    CHECK(std::string(guest("k").initrd) == "\\i.img");
    CHECK(cmdline("k") == "x=y");
    CHECK(load("[guest k]\nkernel = \\vmlinux\n", "cmdline=quiet") ==
          "load options:1: key 'cmdline' is a guest key: write guest.NAME.cmdline=VALUE");
    // Replacing the same guest's command line again and again reuses its bytes.
    std::string options;
    for (int i = 0; i < 100; ++i) options += "guest.k.cmdline=" + std::string(1000, 'a') + " ";
    REQUIRE(load("[guest k]\nkernel = \\vmlinux\n", options) == "");
    CHECK(g_cfg.cmdline_pool_used == 1001);
}

TEST_CASE("kernel keys: the command lines of all guests share one pool") {
    std::string text;
    const std::string longest(vmx::max_cmdline_length, 'c');
    const unsigned fit = vmx::cmdline_pool_size / (vmx::max_cmdline_length + 1);
    for (unsigned i = 0; i < fit; ++i)
        text += "[guest k" + std::to_string(i) + "]\nkernel = \\vmlinux\ncmdline = " + longest + "\n";
    REQUIRE(load(text) == "");
    CHECK(cmdline("k0") == longest);
    CHECK(cmdline(("k" + std::to_string(fit - 1)).c_str()) == longest);
    const std::string more = text + "[guest late]\nkernel = \\vmlinux\ncmdline = " + longest + "\n";
    CHECK(load(more) == "metronome.cfg:" + std::to_string(3 * fit + 3) +
                            ": key 'cmdline': the command lines of all guests take more than 32768 bytes");
    // A reset empties the pool.
    REQUIRE(load(with_cmdline(" = fresh")) == "");
    CHECK(g_cfg.cmdline_pool_used == 6);
}

TEST_CASE("kernel keys: kernel and initrd are paths on the ESP") {
    CHECK(load("[guest k]\nkernel = vmlinux\n") ==
          "metronome.cfg:2: key 'kernel': 'vmlinux' is not a path on the ESP: paths start with '\\' "
          "and use '\\' between folders (e.g. \\guests\\a.elf)");
    CHECK(load("[guest k]\nkernel = /boot/vmlinux\n").find("is not a path on the ESP") != std::string::npos);
    CHECK(load("[guest k]\nkernel = spin\n").find("'spin' is not a path on the ESP") != std::string::npos);
    CHECK(load("[guest k]\nkernel = \\boot\\\n") ==
          "metronome.cfg:2: key 'kernel': '\\boot\\' names a folder, not a file");
    CHECK(load("[guest k]\nkernel = \\vmlinux\ninitrd = \\" + std::string(127, 'i') + "\n") ==
          "metronome.cfg:3: key 'initrd': path is too long (128 characters, at most 127)");
    REQUIRE(load("[guest k]\nkernel = \\My Kernels\\vmlinux 6.1\n") == "");
    CHECK(std::string(guest("k").kernel) == "\\My Kernels\\vmlinux 6.1");
}

TEST_CASE("kernel keys: a guest runs an image or a kernel, and only a kernel takes initrd and cmdline") {
    CHECK(load("[guest k]\nimage = spin\n\nkernel = \\vmlinux\n") ==
          "metronome.cfg:4: [guest k]: kernel and image exclude each other: a guest runs a Linux "
          "kernel or an image (image is spin)");
    CHECK(g_last.key == std::string("kernel"));
    CHECK(load("[guest k]\nimage = spin\n", "guest.k.kernel=\\vmlinux")
              .rfind("load options:1: [guest k]: kernel and image exclude each other", 0) == 0);
    CHECK(load("[guest a]\nimage = spin\ninitrd = \\initrd.img\n") ==
          "metronome.cfg:3: [guest a]: initrd is only for a guest with a kernel (this one runs image spin)");
    CHECK(g_last.key == std::string("initrd"));
    CHECK(load("[guest a]\nimage = \\a.elf\ncmdline = quiet\n") ==
          "metronome.cfg:3: [guest a]: cmdline is only for a guest with a kernel (this one runs "
          "image \\a.elf)");
    CHECK(load("[guest a]\nimage = spin\n", "x.efi guest.a.cmdline=quiet")
              .rfind("load options:2: [guest a]: cmdline is only", 0) == 0);
    CHECK(load("[guest a]\ninitrd = \\initrd.img\n") ==
          "metronome.cfg:1: [guest a] has no image: add 'image = NAME' with a built-in workload or a "
          "path starting with '\\', or 'kernel = PATH' for a Linux kernel");
    CHECK(load("[guest k]\nkernel = \\vmlinux\n", "guest.k.image=spin")
              .rfind("metronome.cfg:2: [guest k]: kernel and image exclude each other", 0) == 0);
}

TEST_CASE("kernel keys: memory_mib up to 2048 for a kernel guest, 256 for an image guest") {
    REQUIRE(load("[guest k]\nkernel = \\vmlinux\nmemory_mib = 2048\n[guest a]\nimage = spin\n") == "");
    CHECK(guest("k").memory_mib == 2048);
    CHECK(guest("a").memory_mib == 2);
    CHECK(load("[guest k]\nkernel = \\vmlinux\nmemory_mib = 2049\n") ==
          "metronome.cfg:3: key 'memory_mib': '2049' is out of range 1..2048");
    CHECK(load("[guest a]\nimage = spin\n\nmemory_mib = 257\n") ==
          "metronome.cfg:4: [guest a]: memory_mib 257 is out of range 1..256 for a guest that runs "
          "an image (a kernel guest may have up to 2048)");
    CHECK(g_last.key == std::string("memory_mib"));
    REQUIRE(load("[guest a]\nimage = spin\nmemory_mib = 256\n") == "");
    // A global default above 256 is fine for kernel guests and names its line for an image guest.
    REQUIRE(load("memory_mib = 1024\n[guest k]\nkernel = \\vmlinux\n[guest k2]\nkernel = \\vmlinux\n") == "");
    CHECK(guest("k2").memory_mib == 1024);
    CHECK(load("memory_mib = 1024\n[guest k]\nkernel = \\vmlinux\n[guest a]\nimage = spin\n")
              .rfind("metronome.cfg:1: [guest a]: memory_mib 1024 is out of range 1..256", 0) == 0);
    CHECK(load("memory_mib = 1024\n[guest a]\nimage = spin\nmemory_mib = 16\n") == "");
    CHECK(load("[guest a]\nimage = spin\n", "memory_mib=300")
              .rfind("load options:1: [guest a]: memory_mib 300", 0) == 0);
}

TEST_CASE("tsc: wall by default, own per guest or for all, in any case") {
    REQUIRE(load("[guest a]\nimage = spin\n") == "");
    CHECK(g_cfg.tsc == vmx::TscMode::wall);
    CHECK(guest("a").tsc == vmx::TscMode::wall);
    CHECK(json().find("\"tsc\":\"wall\"") != std::string::npos);
    REQUIRE(load("tsc = OWN\n[guest a]\nimage = spin\n[guest b]\nimage = spin\ntsc = Wall\n") == "");
    CHECK(g_cfg.tsc == vmx::TscMode::own);
    CHECK(guest("a").tsc == vmx::TscMode::own);
    CHECK(guest("b").tsc == vmx::TscMode::wall);
    REQUIRE(load("[guest a]\nimage = spin\n", "tsc=own") == "");
    CHECK(guest("a").tsc == vmx::TscMode::own);
    REQUIRE(load("[guest a]\nimage = spin\n[guest b]\nimage = spin\n", "guest.b.tsc=own") == "");
    CHECK(guest("a").tsc == vmx::TscMode::wall);
    CHECK(guest("b").tsc == vmx::TscMode::own);
    CHECK(std::strcmp(vmx::tsc_mode_name(vmx::TscMode::own), "own") == 0);
    CHECK(load("tsc = guest\n") == "metronome.cfg:1: key 'tsc': 'guest' is not one of wall, own");
    // Not to be confused with tsc_hz, the rate.
    CHECK(load("[guest a]\nimage = spin\ntsc_hz = 1000000\n").find("key 'tsc_hz' is global") != std::string::npos);
    CHECK(load("tcs = own\n") == "metronome.cfg:1: unknown key 'tcs' (did you mean 'tsc'?)");
}

TEST_CASE("kernel keys: console_input names the Linux guest that gets what is typed") {
    const std::string two = "[guest k]\nkernel = \\vmlinux\n[guest s]\nimage = spin\n";
    REQUIRE(load("console_input = k\n" + two) == "");
    CHECK(std::string(g_cfg.console_input) == "k");
    REQUIRE(load(two) == "");
    CHECK(g_cfg.console_input[0] == '\0');
    REQUIRE(load(two, "console_input=k") == "");
    CHECK(std::string(g_cfg.console_input) == "k");
    CHECK(load("console_input = x\n" + two) == "metronome.cfg:1: console_input: no guest named 'x' in the configuration");
    CHECK(load("console_input = s\n" + two) ==
          "metronome.cfg:1: console_input: guest 's' runs no kernel (only a Linux guest has a serial port to type into)");
    CHECK(load("[guest k]\nkernel = \\vmlinux\nconsole_input = k\n").find("console_input") != std::string::npos);
}

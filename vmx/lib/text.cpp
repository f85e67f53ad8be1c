#include "vmx/lib/text.hpp"

namespace vmx {

Text& Text::chr(char c) {
    if (cap_ == 0 || len_ + 1 >= cap_) {
        truncated_ = true;
        return *this;
    }
    buf_[len_++] = c;
    if (c == '\n') line_start_ = len_;
    buf_[len_] = '\0';
    return *this;
}

Text& Text::str(const char* s) {
    if (s == nullptr) return str("(null)");
    while (*s != '\0') chr(*s++);
    return *this;
}

Text& Text::dec(std::uint64_t v) {
    char digits[20];
    unsigned n = 0;
    do {
        digits[n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) chr(digits[--n]);
    return *this;
}

Text& Text::sdec(std::int64_t v) {
    if (v < 0) {
        chr('-');
        return dec(0 - static_cast<std::uint64_t>(v));
    }
    return dec(static_cast<std::uint64_t>(v));
}

Text& Text::hex(std::uint64_t v, unsigned digits) {
    static constexpr char kDigits[] = "0123456789abcdef";
    unsigned n = 1;
    while (n < 16 && (v >> (4 * n)) != 0) ++n;
    if (digits > 16) digits = 16;
    if (digits > n) n = digits;
    str("0x");
    while (n > 0) {
        --n;
        chr(kDigits[(v >> (4 * n)) & 0xf]);
    }
    return *this;
}

Text& Text::fixed(std::uint64_t value, unsigned decimals) {
    std::uint64_t scale = 1;
    for (unsigned i = 0; i < decimals; ++i) scale *= 10;
    dec(value / scale);
    if (decimals == 0) return *this;
    chr('.');
    std::uint64_t frac = value % scale;
    for (std::uint64_t s = scale / 10; s > 0; s /= 10) {
        chr(static_cast<char>('0' + (frac / s) % 10));
    }
    return *this;
}

Text& Text::json_string(const char* s) {
    chr('"');
    for (; s != nullptr && *s != '\0'; ++s) {
        const auto c = static_cast<unsigned char>(*s);
        if (c == '"' || c == '\\') {
            chr('\\');
            chr(static_cast<char>(c));
        } else if (c == '\n') {
            str("\\n");
        } else if (c < 0x20 || c >= 0x7f) {
            str("\\u00");
            chr("0123456789abcdef"[c >> 4]);
            chr("0123456789abcdef"[c & 0xf]);
        } else {
            chr(static_cast<char>(c));
        }
    }
    return chr('"');
}

Text& Text::pad_to(std::size_t column) {
    while (len_ - line_start_ < column && !truncated_) chr(' ');
    return *this;
}

} // namespace vmx

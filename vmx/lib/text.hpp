// A freestanding text builder over caller-provided storage: no allocation, no libc. Output that
// does not fit is cut and `truncated()` says so, so a short buffer is never a memory error.
#pragma once
#include <cstddef>
#include <cstdint>

namespace vmx {

class Text {
  public:
    Text(char* storage, std::size_t capacity) : buf_(storage), cap_(capacity) { terminate(); }

    Text& str(const char* s);
    Text& chr(char c);
    Text& dec(std::uint64_t v);
    Text& sdec(std::int64_t v);
    // Hex with a 0x prefix; `digits` = 0 prints the shortest form, otherwise zero-pads.
    Text& hex(std::uint64_t v, unsigned digits = 0);
    // Fixed point: value / 10^decimals, e.g. fixed(2534, 2) -> "25.34".
    Text& fixed(std::uint64_t value, unsigned decimals);
    // A JSON string literal with quotes and escapes.
    Text& json_string(const char* s);
    Text& pad_to(std::size_t column);

    const char* c_str() const { return buf_; }
    std::size_t size() const { return len_; }
    bool truncated() const { return truncated_; }
    void clear() {
        len_ = 0;
        truncated_ = false;
        terminate();
    }

  private:
    void terminate() {
        if (cap_ > 0) buf_[len_ < cap_ ? len_ : cap_ - 1] = '\0';
    }
    char* buf_;
    std::size_t cap_;
    std::size_t len_ = 0;
    std::size_t line_start_ = 0;
    bool truncated_ = false;
};

template <std::size_t N> class FixedText : public Text {
  public:
    FixedText() : Text(storage_, N) {}
    FixedText(const FixedText&) = delete;
    FixedText& operator=(const FixedText&) = delete;

  private:
    char storage_[N];
};

} // namespace vmx

#include "trainer/loggers/tfevents.h"

#include <array>
#include <cstring>
#include <fstream>
#include <iterator>

#include "tensor/error.h"

namespace ember::tfevents {

namespace {

// The reflected CRC-32C table (polynomial 0x1EDC6F41, reversed 0x82F63B78).
constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kTable = make_table();

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
uint64_t get_le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_tag(std::string& out, uint32_t field, uint32_t wire_type) {
  put_varint(out, (field << 3) | wire_type);
}
void put_bytes_field(std::string& out, uint32_t field, std::string_view bytes) {
  put_tag(out, field, 2);
  put_varint(out, bytes.size());
  out.append(bytes);
}
void put_double_field(std::string& out, uint32_t field, double v) {
  put_tag(out, field, 1);
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  put_le(out, bits, 8);
}

// A protobuf reader over one message: just what reading our own events needs.
struct Reader {
  const unsigned char* p;
  const unsigned char* end;
  bool done() const { return p >= end; }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) fail<ValueError>("read_event_file", "truncated varint");
      const unsigned char b = *p++;
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    fail<ValueError>("read_event_file", "varint longer than 10 bytes");
  }
  std::string_view bytes() {
    const uint64_t n = varint();
    if (n > static_cast<uint64_t>(end - p))
      fail<ValueError>("read_event_file", "field longer than its message");
    std::string_view s(reinterpret_cast<const char*>(p), n);
    p += n;
    return s;
  }
  uint64_t fixed(int n) {
    if (end - p < n) fail<ValueError>("read_event_file", "truncated fixed field");
    const uint64_t v = get_le(p, n);
    p += n;
    return v;
  }
  void skip(uint32_t wire_type) {
    switch (wire_type) {
      case 0: varint(); break;
      case 1: fixed(8); break;
      case 2: bytes(); break;
      case 5: fixed(4); break;
      default: fail<ValueError>("read_event_file", "unsupported wire type ", wire_type);
    }
  }
};

Reader reader_of(std::string_view s) {
  auto* b = reinterpret_cast<const unsigned char*>(s.data());
  return Reader{b, b + s.size()};
}

}  // namespace

uint32_t crc32c(const void* data, size_t n) {
  auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = kTable[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t masked_crc32c(const void* data, size_t n) {
  const uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string frame_record(std::string_view data) {
  std::string out, len;
  put_le(len, data.size(), 8);
  out += len;
  put_le(out, masked_crc32c(len.data(), len.size()), 4);
  out.append(data);
  put_le(out, masked_crc32c(data.data(), data.size()), 4);
  return out;
}

std::string encode_file_version_event(double wall_time) {
  std::string e;
  put_double_field(e, 1, wall_time);
  put_bytes_field(e, 3, "brain.Event:2");
  return e;
}

std::string encode_scalar_event(double wall_time, int64_t step, const std::string& tag,
                                float value) {
  std::string v;
  put_bytes_field(v, 1, tag);
  put_tag(v, 2, 5);
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  put_le(v, bits, 4);
  std::string summary;
  put_bytes_field(summary, 1, v);
  std::string e;
  put_double_field(e, 1, wall_time);
  put_tag(e, 2, 0);
  put_varint(e, static_cast<uint64_t>(step));
  put_bytes_field(e, 5, summary);
  return e;
}

EventFile read_event_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail<ValueError>("read_event_file", "cannot open '", path, "'");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  EventFile file;
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (bytes.size() - pos < 12)
      fail<ValueError>("read_event_file", "truncated record header at offset ", pos);
    const uint64_t len = get_le(b + pos, 8);
    if (get_le(b + pos + 8, 4) != masked_crc32c(b + pos, 8))
      fail<ValueError>("read_event_file", "bad length CRC at offset ", pos);
    if (len > bytes.size() - pos - 12 || bytes.size() - pos - 12 - len < 4)
      fail<ValueError>("read_event_file", "truncated record at offset ", pos);
    const unsigned char* data = b + pos + 12;
    if (get_le(data + len, 4) != masked_crc32c(data, len))
      fail<ValueError>("read_event_file", "bad data CRC at offset ", pos);
    pos += 12 + len + 4;
    ++file.num_records;

    Reader event = reader_of(std::string_view(reinterpret_cast<const char*>(data), len));
    double wall_time = 0;
    int64_t step = 0;
    std::vector<Scalar> scalars;
    while (!event.done()) {
      const uint64_t key = event.varint();
      const auto field = static_cast<uint32_t>(key >> 3), wire = static_cast<uint32_t>(key & 7);
      if (field == 1 && wire == 1) {
        const uint64_t bits = event.fixed(8);
        std::memcpy(&wall_time, &bits, 8);
      } else if (field == 2 && wire == 0) {
        step = static_cast<int64_t>(event.varint());
      } else if (field == 3 && wire == 2) {
        file.file_version = std::string(event.bytes());
      } else if (field == 5 && wire == 2) {
        Reader summary = reader_of(event.bytes());
        while (!summary.done()) {
          const uint64_t skey = summary.varint();
          if ((skey >> 3) != 1 || (skey & 7) != 2) {
            summary.skip(static_cast<uint32_t>(skey & 7));
            continue;
          }
          Reader value = reader_of(summary.bytes());
          Scalar s;
          while (!value.done()) {
            const uint64_t vkey = value.varint();
            if (vkey == ((1u << 3) | 2)) {
              s.tag = std::string(value.bytes());
            } else if (vkey == ((2u << 3) | 5)) {
              const auto bits = static_cast<uint32_t>(value.fixed(4));
              std::memcpy(&s.value, &bits, 4);
            } else {
              value.skip(static_cast<uint32_t>(vkey & 7));
            }
          }
          scalars.push_back(s);
        }
      } else {
        event.skip(wire);
      }
    }
    for (Scalar& s : scalars) {
      s.step = step;
      s.wall_time = wall_time;
      file.scalars.push_back(s);
    }
  }
  return file;
}

}  // namespace ember::tfevents

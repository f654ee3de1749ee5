#pragma once
// Test helper: writes zip files byte by byte, so tests can hold whatever a hostile zip may hold
// (any Unix mode including devices and FIFOs, absolute or ".." names, under-declared sizes, bad
// CRCs) and zip bombs: `zeros` repeats one raw-deflate block of 1 MiB of zeros (zlib, full
// flush), so 1.6 GB of content costs ~1.6 MB and no compression time.

#include <sys/stat.h>
#include <zlib.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace evg::functions::ziptest {

class ZipBuilder {
 public:
  // `mode`: full st_mode (type and permission bits) stored as Unix external attributes;
  // has_unix_mode=false stores an MS-DOS entry without a Unix mode.
  void file(const std::string& name, const std::string& data, uint32_t mode = S_IFREG | 0644,
            bool has_unix_mode = true) {
    Entry e{name, data, mode, has_unix_mode, 0, crc(data), data.size(), data.size()};
    entries_.push_back(std::move(e));
  }
  void dir(const std::string& name, uint32_t mode = S_IFDIR | 0755, bool has_unix_mode = true) {
    entries_.push_back(Entry{name, "", mode, has_unix_mode, 0, 0, 0, 0});
  }
  void symlink(const std::string& name, const std::string& target) {
    file(name, target, S_IFLNK | 0777);
  }
  // `mib` MiB of zeros, deflated; declared_size (0: the real size) goes into both headers.
  void zeros(const std::string& name, uint32_t mib, uint64_t declared_size = 0) {
    std::string block, first, fin;
    std::string mb(1 << 20, '\0');
    z_stream zs{};
    deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
    first = deflateChunk(&zs, mb, Z_FULL_FLUSH);
    block = deflateChunk(&zs, mb, Z_FULL_FLUSH);
    fin = deflateChunk(&zs, "", Z_FINISH);
    deflateEnd(&zs);
    std::string data = first;
    for (uint32_t i = 1; i < mib; ++i) data += block;
    data += fin;
    uLong c1 = crc32(0L, reinterpret_cast<const Bytef*>(mb.data()), static_cast<uInt>(mb.size()));
    uLong c = c1;
    for (uint32_t i = 1; i < mib; ++i) c = crc32_combine(c, c1, static_cast<z_off_t>(mb.size()));
    uint64_t real = uint64_t{mib} << 20;
    entries_.push_back(Entry{name, std::move(data), S_IFREG | 0644, true, 8,
                             static_cast<uint32_t>(c), declared_size ? declared_size : real, 0});
    entries_.back().csize = entries_.back().data.size();
  }
  void corruptCrc() { entries_.back().crc ^= 0xffffffffu; }

  void writeTo(const std::string& path) const {
    std::string out, central;
    for (const auto& e : entries_) {
      uint32_t offset = static_cast<uint32_t>(out.size());
      u32(out, 0x04034b50);
      header(out, e);
      u16(out, 0);  // extra length
      out += e.name;
      out += e.data;
      u32(central, 0x02014b50);
      u16(central, static_cast<uint16_t>((e.has_unix_mode ? 3 << 8 : 0) | 20));  // made by
      header(central, e);
      u16(central, 0);  // extra
      u16(central, 0);  // comment
      u16(central, 0);  // disk
      u16(central, 0);  // internal attributes
      uint32_t dos =
          (e.mode & S_IFMT) == S_IFDIR || (!e.has_unix_mode && e.name.back() == '/') ? 0x10 : 0;
      u32(central, e.has_unix_mode ? (e.mode << 16) | dos : dos);
      u32(central, offset);
      central += e.name;
    }
    uint32_t cd_offset = static_cast<uint32_t>(out.size());
    out += central;
    u32(out, 0x06054b50);
    u16(out, 0);
    u16(out, 0);
    u16(out, static_cast<uint16_t>(entries_.size()));
    u16(out, static_cast<uint16_t>(entries_.size()));
    u32(out, static_cast<uint32_t>(central.size()));
    u32(out, cd_offset);
    u16(out, 0);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << out;
  }

 private:
  struct Entry {
    std::string name;
    std::string data;  // stored bytes (method 0) or raw deflate (method 8)
    uint32_t mode;
    bool has_unix_mode;
    uint16_t method;
    uint32_t crc;
    uint64_t usize;
    uint64_t csize;
  };
  std::vector<Entry> entries_;
  static uint32_t crc(const std::string& d) {
    return static_cast<uint32_t>(
        crc32(0L, reinterpret_cast<const Bytef*>(d.data()), static_cast<uInt>(d.size())));
  }
  static std::string deflateChunk(z_stream* zs, const std::string& in, int flush) {
    std::string out;
    zs->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs->avail_in = static_cast<uInt>(in.size());
    char buf[65536];
    do {
      zs->next_out = reinterpret_cast<Bytef*>(buf);
      zs->avail_out = sizeof buf;
      deflate(zs, flush);
      out.append(buf, sizeof buf - zs->avail_out);
    } while (zs->avail_out == 0);
    return out;
  }
  static void u16(std::string& s, uint16_t v) {
    s += static_cast<char>(v & 0xff);
    s += static_cast<char>(v >> 8);
  }
  static void u32(std::string& s, uint32_t v) {
    u16(s, static_cast<uint16_t>(v & 0xffff));
    u16(s, static_cast<uint16_t>(v >> 16));
  }
  // version needed .. extra length (without the extra length itself).
  static void header(std::string& s, const Entry& e) {
    u16(s, 20);        // version needed
    u16(s, 0);         // flags
    u16(s, e.method);  // 0 stored, 8 deflate
    u16(s, 0);         // time
    u16(s, 0x21);      // date 1980-01-01
    u32(s, e.crc);
    u32(s, static_cast<uint32_t>(e.csize));
    u32(s, static_cast<uint32_t>(e.usize));
    u16(s, static_cast<uint16_t>(e.name.size()));
  }
};

}  // namespace evg::functions::ziptest

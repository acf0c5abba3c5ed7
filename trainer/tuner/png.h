// A minimal PNG writer for the plots ember draws (lr_find): 8-bit RGB, the image data in
// stored (uncompressed) deflate blocks, so it needs no zlib. Any PNG reader opens it.
//
//   Canvas c(640, 480);               // white
//   c.line(0, 0, 639, 479, {255, 0, 0});
//   c.write_png("plot.png");
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ember::plot {

struct Rgb {
  uint8_t r, g, b;
};

class Canvas {
 public:
  Canvas(int width, int height, Rgb background = {255, 255, 255});
  int width() const { return width_; }
  int height() const { return height_; }
  // Pixels outside the canvas are ignored.
  void set(int x, int y, Rgb c);
  Rgb get(int x, int y) const;
  void line(int x0, int y0, int x1, int y1, Rgb c);  // Bresenham, both ends included
  void dot(int x, int y, int radius, Rgb c);         // a filled disc
  // Writes the PNG through a temporary file renamed into place; throws ValueError on failure.
  void write_png(const std::string& path) const;
  // The PNG file's bytes.
  std::vector<uint8_t> encode_png() const;

 private:
  int width_, height_;
  std::vector<uint8_t> rgb_;  // (height, width, 3)
};

}  // namespace ember::plot

// The procedural face on the canonical canvas. Identity fixes the layout; AU intensities,
// blinks and the idiosyncratic movement only displace features or add creases, each inside its
// own region (au_region), so a test can check what every AU touches.
//
// Local coordinates: origin at the face-oval centre (kFaceCentre), x to the image right,
// y down, canvas pixels. Side s = -1 is the image-left half of the face, s = +1 the right.
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "psmflow/video/synth.hpp"
#include "synth_draw.hpp"

namespace psmflow::synth {

namespace {

constexpr float kPi = static_cast<float>(CV_PI);

float smoothstep(float t) {
  t = std::clamp(t, 0.f, 1.f);
  return t * t * (3 - 2 * t);
}

// What moves in this rendering, as fractions 0..1 of full intensity.
struct Motion {
  std::array<float, kAuCount> a{};
  float blink = 0;
  float brow_raise = 0, pucker = 0, flare = 0, wink = 0, twist = 0, puff = 0;  // idiosyncrasies
  float side = -1;  // side of one-sided idiosyncrasies
  float au(int k) const { return a[au_index(k)]; }
};

Motion make_motion(const Subject& s, const AuVector& au, float blink, float idio) {
  Motion m;
  for (int i = 0; i < kAuCount; ++i) m.a[i] = std::clamp(au[i] / 5.f, 0.f, 1.f);
  m.blink = std::clamp(blink, 0.f, 1.f);
  idio = std::clamp(idio, 0.f, 1.f);
  m.side = s.idio_left ? -1.f : 1.f;
  switch (s.idiosyncrasy) {
    case Idiosyncrasy::kOneSidedBrowRaise: m.brow_raise = idio; break;
    case Idiosyncrasy::kLipPucker: m.pucker = idio; break;
    case Idiosyncrasy::kNostrilFlare: m.flare = idio; break;
    case Idiosyncrasy::kWink: m.wink = idio; break;
    case Idiosyncrasy::kMouthTwist: m.twist = idio; break;
    case Idiosyncrasy::kCheekPuff: m.puff = idio; break;
  }
  return m;
}

// Mouth geometry shared by the lips, the creases around them and the shading below them.
struct Mouth {
  float width = 0;           // half-width after AU12/20 and pucker
  float shift = 0;           // sideways shift (twist)
  float corner_y[2] = {0, 0};  // image-left, image-right corner heights
  float lip = 0;             // lip thickness
  float gap = 0;             // lips apart at the centre
  float drop = 0;            // jaw drop of the chin outline
  Poly upper_top, upper_inner, lower_inner, lower_bottom;  // left to right
  float bottom_y() const { return lower_bottom[lower_bottom.size() / 2].y; }
};

class FaceDrawer {
 public:
  FaceDrawer(const Identity& id, const Motion& m) : id_(id), m_(m), c_(kFaceCentre) { mouth_ = make_mouth(); }

  FaceImage draw() {
    FaceImage f;
    f.bgr = cv::Mat(kCanvasHeight, kCanvasWidth, CV_8UC3, cv::Scalar::all(0));
    f.alpha = cv::Mat(kCanvasHeight, kCanvasWidth, CV_8UC1, cv::Scalar(0));
    f.outline = outline();
    draw_body(f);
    apply_shading(f.bgr, f.outline);
    draw_hair_cap(f);
    for (float s : {-1.f, 1.f}) {
      draw_brow(f.bgr, s);
      draw_eye(f.bgr, s);
    }
    draw_nose(f.bgr);
    draw_mouth(f.bgr);
    apply_creases(f.bgr);
    return f;
  }

 private:
  cv::Point2f P(float x, float y) const { return {c_.x + x, c_.y + y}; }
  float tip_y() const { return id_.eye_y + id_.nose_length; }
  void both(FaceImage& f, const Poly& p, const cv::Scalar& colour) const {
    fill(f.bgr, p, colour);
    fill(f.alpha, p, cv::Scalar(255));
  }

  Poly outline() const {
    const float a = id_.face_w, b = id_.face_h, n = 2 + 1.4f * id_.jaw;
    const float drop = mouth_.drop, jaw_top = id_.mouth_y - 6;
    Poly p;
    for (int k = 0; k < 72; ++k) {
      float t = 2 * kPi * k / 72, c = std::cos(t), s = std::sin(t);
      float x = a * c, y = b * s;
      if (s > 0) {  // the lower half is a superellipse: squarer jaws for larger `jaw`
        x = a * std::copysign(std::pow(std::abs(c), 2 / n), c);
        y = b * std::pow(s, 2 / n);
      }
      if (y > jaw_top) y += drop * smoothstep((y - jaw_top) / (b - jaw_top));
      x += std::copysign(7 * m_.puff * std::exp(-std::pow((y - id_.mouth_y + 14) / 16, 2.f)), x);
      p.push_back(P(x, y));
    }
    return p;
  }

  void draw_body(FaceImage& f) const {
    const Identity& id = id_;
    const float a = id.face_w, b = id.face_h, v = id.hair_volume;
    if (id.hair_style == 2) {  // long hair falls behind the face to the shoulders
      Poly back = ellipse_poly(P(0, -8), {a + 14 * v, b + 12 * v}, 0, 48);
      back.erase(std::remove_if(back.begin(), back.end(), [&](auto q) { return q.y > c_.y - 8; }), back.end());
      std::sort(back.begin(), back.end(), [](auto p, auto q) { return p.x < q.x; });
      back.insert(back.begin(), P(-(a + 18 * v), b + 45));
      back.push_back(P(a + 18 * v, b + 45));
      both(f, back, id.hair);
    }
    const float bottom = kCanvasHeight - c_.y + 2;
    both(f, {P(-0.6f * a, b + 42), P(-(a + 40), b + 68), P(-152, b + 110), P(-152, bottom), P(152, bottom),
             P(152, b + 110), P(a + 40, b + 68), P(0.6f * a, b + 42), P(0, b + 72)},
         id.clothes);
    both(f, {P(-0.5f * a, id.mouth_y), P(0.5f * a, id.mouth_y), P(0.56f * a, b + 50), P(0, b + 70), P(-0.56f * a, b + 50)},
         id.skin * 0.8);
    for (float s : {-1.f, 1.f}) {
      both(f, ellipse_poly(P(s * (a - 1), id.eye_y + 13), {7, 15}), id.skin * 0.9);
      stroke(f.bgr, bezier(P(s * (a + 2), id.eye_y + 3), P(s * (a + 6), id.eye_y + 14), P(s * (a + 2), id.eye_y + 24)),
             id.skin * 0.68, 1);
    }
    both(f, f.outline, id.skin);
  }

  // Soft light: darker rim, eye sockets, sides and underside of the nose, under the lip and
  // chin; lighter cheeks, nose bridge and chin. Blurred wide, then multiplied into the skin.
  void apply_shading(cv::Mat& bgr, const Poly& outline) const {
    const Identity& id = id_;
    const float a6 = m_.au(6), a9 = m_.au(9), a17 = m_.au(17), drop = mouth_.drop;
    cv::Mat shade(bgr.size(), CV_32F, cv::Scalar(0));
    stroke(shade, outline, cv::Scalar(0.22), 10, true);
    fill(shade, ellipse_poly(P(0, id.face_h + 6 + drop), {0.5f * id.face_w, 9}), cv::Scalar(0.3));
    for (float s : {-1.f, 1.f}) {
      fill(shade, ellipse_poly(P(s * id.eye_spacing, id.eye_y - 2), {id.eye_w * 1.45f, id.eye_h * 2.1f}), cv::Scalar(0.2));
      fill(shade, ellipse_poly(P(s * (id.eye_spacing - id.eye_w * 1.05f), id.eye_y - 1), {4, 6}), cv::Scalar(0.12));
      stroke(shade, {P(s * 5, id.eye_y + 6), P(s * id.nose_width * 0.75f, tip_y() - 5)}, cv::Scalar(0.12), 4);
      const float cheek_y = id.eye_y + 24 - 7 * a6 - 3 * m_.puff;
      fill(shade, ellipse_poly(P(s * (id.eye_spacing + 3), cheek_y), {13 + 5 * m_.puff, 9}), cv::Scalar(-0.1 - 0.08 * m_.puff));
      fill(shade, ellipse_poly(P(s * (id.eye_spacing + 3), cheek_y + 11), {13, 4}), cv::Scalar(0.1 * a6));
    }
    fill(shade, ellipse_poly(P(0, tip_y() + 7), {id.nose_width, 3.5f}), cv::Scalar(0.25));
    fill(shade, ellipse_poly(P(0, tip_y() - 5), {4, 6}), cv::Scalar(-0.12));
    stroke(shade, {P(0, id.eye_y + 2), P(0, tip_y() - 8)}, cv::Scalar(-0.08), 3);
    fill(shade, ellipse_poly(P(0, id.eye_y + 8), {6, 6}), cv::Scalar(0.15 * a9));
    fill(shade, ellipse_poly(P(mouth_.shift, mouth_.bottom_y() + 4 - 2 * a17), {id.mouth_width * 0.55f, 3}),
         cv::Scalar(0.18 + 0.12 * a17));
    fill(shade, ellipse_poly(P(0, id.face_h + drop - 14 - 3 * a17), {12, 7}), cv::Scalar(-0.1));
    cv::Rect roi = cv::boundingRect(outline) + cv::Size(0, 0);
    roi = cv::Rect(roi.x - 20, roi.y - 20, roi.width + 40, roi.height + 50) & cv::Rect(0, 0, bgr.cols, bgr.rows);
    cv::GaussianBlur(shade(roi), shade(roi), cv::Size(0, 0), 5);
    multiply_darkness(bgr(roi), shade(roi));
  }

  static void multiply_darkness(cv::Mat bgr, const cv::Mat& dark) {
    for (int y = 0; y < bgr.rows; ++y) {
      auto* px = bgr.ptr<cv::Vec3b>(y);
      const float* d = dark.ptr<float>(y);
      for (int x = 0; x < bgr.cols; ++x)
        if (d[x] != 0)
          for (int c = 0; c < 3; ++c) px[x][c] = cv::saturate_cast<uchar>(px[x][c] * (1 - d[x]));
    }
  }

  void draw_hair_cap(FaceImage& f) const {
    const Identity& id = id_;
    const float a = id.face_w, b = id.face_h, v = id.hair_volume;
    Poly cap = ellipse_poly(P(0, -6), {a + 5 * v, b + 10 * v}, 0, 48);
    cap.erase(std::remove_if(cap.begin(), cap.end(), [&](auto q) { return q.y > c_.y - 6; }), cap.end());
    std::sort(cap.begin(), cap.end(), [](auto p, auto q) { return p.x < q.x; });
    const float brow_top = id.eye_y - id.brow_gap - id.brow_arch - id.brow_thickness;
    const float temple_y = brow_top - 12, line_y = brow_top - 24 - (id.hair_style == 3 ? 16 : 0);
    Poly line;
    if (id.hair_style == 1) {  // side parting: the hair sweeps lower across one side
      line = join(bezier(P(a * 0.97f, temple_y), P(a * 0.5f, line_y - 6), P(-a * 0.25f, line_y - 4)),
                  bezier(P(-a * 0.25f, line_y - 4), P(-a * 0.8f, line_y + 10), P(-a * 0.97f, temple_y + 4)));
    } else if (id.hair_style == 3) {  // receding: an M-shaped, high hairline
      line = join(bezier(P(a * 0.97f, temple_y), P(a * 0.6f, line_y - 10), P(0, line_y + 6)),
                  bezier(P(0, line_y + 6), P(-a * 0.6f, line_y - 10), P(-a * 0.97f, temple_y)));
    } else {
      line = bezier(P(a * 0.97f, temple_y), P(0, 2 * line_y - temple_y), P(-a * 0.97f, temple_y), 16);
    }
    Poly hair = join(cap, line);
    both(f, hair, id.hair);
    for (int k = -3; k <= 3; ++k)  // a few strands so the hair is not one flat patch
      stroke(f.bgr, bezier(P(k * a * 0.12f, -b - 6 * v), P(k * a * 0.22f, -b * 0.8f), P(k * a * 0.3f, line_y - 4)),
             id.hair * 0.75, 1);
  }

  void draw_brow(cv::Mat& img, float s) const {
    const Identity& id = id_;
    const float a1 = m_.au(1), a2 = m_.au(2), a4 = m_.au(4);
    const float raise = (s == m_.side) ? m_.brow_raise : 0.f;
    const float x_in = id.eye_spacing - id.eye_w * 0.85f, x_out = id.eye_spacing + id.eye_w * 1.3f;
    Poly bottom, top;
    for (int i = 0; i <= 8; ++i) {
      float u = i / 8.f;
      float x = s * (x_in + (x_out - x_in) * u) - s * 5 * a4 * (1 - u) * (1 - u);
      float y = id.eye_y - id.brow_gap - id.brow_arch * std::sin(kPi * std::min(u * 1.15f, 1.f));
      y += -9 * a1 * (1 - u) * (1 - u) - 9 * a2 * u * u + 6 * a4 * (1 - 0.5f * u) - 9 * raise;
      bottom.push_back(P(x, y));
      top.push_back(P(x, y - id.brow_thickness * (1 - 0.55f * u) - 0.5f));
    }
    fill(img, join(bottom, reversed(top)), id.brow);
  }

  void draw_eye(cv::Mat& img, float s) const {
    const Identity& id = id_;
    const float a5 = m_.au(5), a6 = m_.au(6);
    const float closed = std::max(m_.blink, s == m_.side ? m_.wink : 0.f);
    const cv::Point2f e = P(s * id.eye_spacing, id.eye_y);
    const float up_open = id.eye_h * (1 + 0.55f * a5), low = id.eye_h * 0.8f * (1 - 0.5f * a6);
    const float up = up_open + (-0.8f * low - up_open) * closed;
    const cv::Point2f inner = e + cv::Point2f(-s * id.eye_w, 0.5f), outer = e + cv::Point2f(s * id.eye_w, -1);
    Poly upper = bezier(inner, e + cv::Point2f(0, -2 * up), outer);
    Poly lower = bezier(outer, e + cv::Point2f(s, 2 * low), inner);
    if (up + low > 1) draw_eyeball(img, join(upper, lower), e);
    const float crease = up_open + 5 + 2 * a5;
    stroke(img, bezier(inner + cv::Point2f(s * 2, -2), e + cv::Point2f(0, -2 * crease), outer + cv::Point2f(-s, -3)),
           id.skin * 0.72, 1);
    stroke(img, lower, id.skin * 0.62, 1);
    stroke(img, upper, id.brow * 0.7, closed > 0.5f ? 3 : 2);
  }

  void draw_eyeball(cv::Mat& img, const Poly& almond, cv::Point2f e) const {
    cv::Rect roi = cv::boundingRect(almond);
    roi = cv::Rect(roi.x - 2, roi.y - 2, roi.width + 4, roi.height + 4) & cv::Rect(0, 0, img.cols, img.rows);
    Poly local;
    for (auto q : almond) local.push_back(q - cv::Point2f(roi.tl()));
    const cv::Point2f ce = e - cv::Point2f(roi.tl());
    cv::Mat ball = img(roi).clone(), mask(roi.size(), CV_8UC1, cv::Scalar(0));
    fill(ball, local, cv::Scalar(225, 228, 235));
    fill(ball, ellipse_poly(ce, {id_.iris_r, id_.iris_r}), id_.iris);
    fill(ball, ellipse_poly(ce, {id_.iris_r * 0.45f, id_.iris_r * 0.45f}), cv::Scalar(15, 15, 15));
    fill(ball, ellipse_poly(ce + cv::Point2f(-1.5f, -1.8f), {1.2f, 1.2f}, 0, 12), cv::Scalar(245, 245, 245));
    fill(mask, local, cv::Scalar(255));
    ball.copyTo(img(roi), mask);
  }

  void draw_nose(cv::Mat& img) const {
    const Identity& id = id_;
    const float a9 = m_.au(9), flare = m_.flare, ty = tip_y() - 2.5f * a9;
    for (float s : {-1.f, 1.f}) {
      cv::Point2f nostril = P(s * id.nose_width * 0.48f * (1 + 0.1f * a9 + 0.15f * flare), ty + 2);
      fill(img, ellipse_poly(nostril, {id.nose_width * 0.3f * (1 + 0.2f * a9 + 0.55f * flare), 2.3f * (1 + 0.5f * flare)}, s * 20),
           id.skin * (0.32 - 0.1 * flare));
      stroke(img,
             bezier(P(s * id.nose_width * 0.55f, ty - 6), P(s * id.nose_width * (1.25f + 0.1f * a9 + 0.3f * flare), ty - 1),
                    P(s * id.nose_width * 0.6f, ty + 4)),
             id.skin * 0.62, 1);
    }
    stroke(img, bezier(P(-4, tip_y() + 1), P(0, tip_y() + 3), P(4, tip_y() + 1)), id.skin * 0.75, 1);
  }

  Mouth make_mouth() const {
    const Identity& id = id_;
    const float a12 = m_.au(12), a15 = m_.au(15), a17 = m_.au(17), a20 = m_.au(20), a25 = m_.au(25), a26 = m_.au(26);
    Mouth mo;
    mo.width = id.mouth_width * (1 + 0.18f * a12 + 0.32f * a20) * (1 - 0.35f * m_.pucker);
    mo.shift = m_.side * 7 * m_.twist;
    for (int i = 0; i < 2; ++i) {
      float s = i == 0 ? -1.f : 1.f;
      mo.corner_y[i] = id.mouth_y - 7 * a12 + 7 * a15 + 1.5f * a20 + (s == m_.side ? -5.f : 1.5f) * m_.twist;
    }
    mo.lip = id.lip_thickness * (1 - 0.3f * a20) * (1 + 0.5f * m_.pucker);
    mo.gap = 8 * a25 + 7 * a26;
    mo.drop = 14 * a26;
    for (int k = 0; k <= 16; ++k) {
      float u = -1 + k / 8.f, w = 1 - u * u;
      float base = id.mouth_y + (mo.corner_y[u < 0 ? 0 : 1] - id.mouth_y) * std::pow(std::abs(u), 2.2f);
      float x = c_.x + mo.shift + u * mo.width;
      float upper_inner = base - 0.15f * mo.gap * w;
      float lower_inner = base + 0.85f * mo.gap * std::pow(w, 0.8f) - 2 * a17 * w;
      float bow = 0.4f * mo.lip * std::exp(-(u / 0.13f) * (u / 0.13f));  // Cupid's bow dip
      mo.upper_top.emplace_back(x, c_.y + base - mo.lip * (0.35f + 0.75f * w) + bow);
      mo.upper_inner.emplace_back(x, c_.y + upper_inner);
      mo.lower_inner.emplace_back(x, c_.y + lower_inner);
      mo.lower_bottom.emplace_back(x, c_.y + lower_inner + mo.lip * 1.25f * (0.3f + 0.9f * w) - 1.2f * a17 * w);
    }
    return mo;
  }

  void draw_mouth(cv::Mat& img) const {
    const Mouth& mo = mouth_;
    if (mo.gap > 0.5f) {
      fill(img, join(mo.upper_inner, reversed(mo.lower_inner)), cv::Scalar(45, 35, 70));
      Poly teeth_top(mo.upper_inner.begin() + 2, mo.upper_inner.end() - 2), teeth_bottom;
      for (auto q : teeth_top) {
        float u = (q.x - c_.x - mo.shift) / mo.width;
        teeth_bottom.push_back(q + cv::Point2f(0, std::min(0.45f * mo.gap, 5.f) * (1 - u * u)));
      }
      fill(img, join(teeth_top, reversed(teeth_bottom)), cv::Scalar(220, 228, 232));
    }
    fill(img, join(mo.upper_top, reversed(mo.upper_inner)), id_.lips);
    fill(img, join(mo.lower_inner, reversed(mo.lower_bottom)), id_.lips * 1.1);
    stroke(img, mo.upper_inner, id_.lips * 0.5, 1);
  }

  // Wrinkles and furrows that AUs create, drawn as thin darkness lines on skin.
  void apply_creases(cv::Mat& bgr) const {
    cv::Mat dark(bgr.size(), CV_32F, cv::Scalar(0));
    brow_creases(dark);
    eye_creases(dark);
    nose_creases(dark);
    mouth_creases(dark);
    cv::Rect roi = cv::boundingRect(Poly{P(-id_.face_w - 12, -id_.face_h), P(id_.face_w + 12, id_.face_h + 20)});
    roi &= cv::Rect(0, 0, bgr.cols, bgr.rows);
    cv::GaussianBlur(dark(roi), dark(roi), cv::Size(0, 0), 0.7);
    multiply_darkness(bgr(roi), dark(roi));
  }

  void brow_creases(cv::Mat& dark) const {
    const Identity& id = id_;
    const float a1 = m_.au(1), a2 = m_.au(2), a4 = m_.au(4);
    const float top = id.eye_y - id.brow_gap - id.brow_arch - id.brow_thickness;
    for (int k = 0; k < 3; ++k) {
      if (a1 > 0.25f * k) {
        float y = top - 7 - 6 * k - 7 * a1;
        stroke(dark, bezier(P(-id.eye_spacing * 0.7f, y), P(0, y - 3), P(id.eye_spacing * 0.7f, y)), cv::Scalar(0.35 * a1), 1);
      }
      if (a2 > 0.25f * k)
        for (float s : {-1.f, 1.f}) {
          float y = top - 6 - 6 * k - 7 * a2;
          stroke(dark, bezier(P(s * id.eye_spacing * 0.8f, y), P(s * id.eye_spacing * 1.2f, y - 3), P(s * (id.eye_spacing + id.eye_w * 1.3f), y + 1)),
                 cv::Scalar(0.3 * a2), 1);
        }
    }
    const float inner_y = id.eye_y - id.brow_gap + 6 * a4;
    for (float s : {-1.f, 1.f}) stroke(dark, {P(s * 3.5f, inner_y - 6), P(s * 2.5f, inner_y + 8)}, cv::Scalar(0.45 * a4), 1);
  }

  void eye_creases(cv::Mat& dark) const {
    const Identity& id = id_;
    const float a6 = m_.au(6);
    for (float s : {-1.f, 1.f}) {
      const float x0 = s * (id.eye_spacing + id.eye_w + 2);
      for (float d : {-3.f, 1.f, 5.f}) stroke(dark, {P(x0, id.eye_y + d), P(x0 + s * 8, id.eye_y + d * 2.2f)}, cv::Scalar(0.4 * a6), 1);
      const float y = id.eye_y + id.eye_h + 6 - 3 * a6;
      stroke(dark, bezier(P(s * (id.eye_spacing - id.eye_w * 0.8f), y), P(s * id.eye_spacing, y + 4), P(s * (id.eye_spacing + id.eye_w), y)),
             cv::Scalar(0.3 * a6), 1);
    }
  }

  void nose_creases(cv::Mat& dark) const {
    const float a9 = m_.au(9);
    for (int k = 0; k < 3; ++k) {
      float y = id_.eye_y + 4 + 4.5f * k;
      stroke(dark, bezier(P(-6, y + 1), P(0, y - 1.5f), P(6, y + 1)), cv::Scalar(0.5 * a9), 1);
    }
  }

  void mouth_creases(cv::Mat& dark) const {
    const Identity& id = id_;
    const Mouth& mo = mouth_;
    const float a9 = m_.au(9), a12 = m_.au(12), a15 = m_.au(15), a17 = m_.au(17), a20 = m_.au(20);
    for (int i = 0; i < 2; ++i) {
      const float s = i == 0 ? -1.f : 1.f, cx = mo.shift + s * mo.width, cy = mo.corner_y[i];
      stroke(dark,
             bezier(P(s * (id.nose_width + 3), tip_y() - 1 - 3 * a9),
                    P(s * (id.mouth_width * 0.95f + 4 + 4 * a12), (tip_y() + id.mouth_y) / 2 + 2), P(cx + s * 4, cy + 4)),
             cv::Scalar(0.12 + 0.4 * a12), 1);
      fill(dark, ellipse_poly(P(cx + s * 3, cy), {1.5f, 2.5f}), cv::Scalar(0.3 * a12));
      stroke(dark, {P(cx + s, cy + 2), P(cx + s * 3, cy + 12)}, cv::Scalar(0.35 * a15), 1);
      stroke(dark, {P(cx + s * 2, cy), P(cx + s * 9, cy + 1.5f)}, cv::Scalar(0.35 * a20), 1);
    }
    const float chin_y = id.face_h + mo.drop;
    for (cv::Point2f d : {cv::Point2f(-5, -12), cv::Point2f(5, -12), cv::Point2f(-9, -17), cv::Point2f(9, -17), cv::Point2f(0, -8)})
      fill(dark, ellipse_poly(P(d.x, chin_y + d.y), {1, 1}, 0, 8), cv::Scalar(0.35 * a17));
    const float y = mo.bottom_y() + 3;
    stroke(dark, bezier(P(mo.shift - 8, y), P(mo.shift, y + 2), P(mo.shift + 8, y)), cv::Scalar(0.3 * a17), 1);
  }

  const Identity& id_;
  const Motion& m_;
  cv::Point2f c_;
  Mouth mouth_;
};

}  // namespace

FaceImage render_face(const Subject& s, const AuVector& au, float blink, float idio) {
  Motion m = make_motion(s, au, blink, idio);
  return FaceDrawer(s.identity, m).draw();
}

cv::Rect au_region(const Identity& id, int au) {
  const float brow = id.eye_y - id.brow_gap, brow_top = brow - id.brow_arch - id.brow_thickness;
  const float eyes_x = id.eye_spacing + id.eye_w * 1.3f + 8, tip = id.eye_y + id.nose_length;
  auto box = [](float x0, float y0, float x1, float y1) {
    return cv::Rect(cv::Point(cvFloor(kFaceCentre.x + x0), cvFloor(kFaceCentre.y + y0)),
                    cv::Point(cvCeil(kFaceCentre.x + x1), cvCeil(kFaceCentre.y + y1)));
  };
  switch (au) {
    case 1: return box(-(id.eye_spacing + 4), brow_top - 40, id.eye_spacing + 4, brow + 4);
    case 2: return box(-eyes_x, brow_top - 36, eyes_x, brow + 4);
    case 4: return box(-eyes_x, brow_top - 4, eyes_x, id.eye_y);
    case 5: return box(-eyes_x, id.eye_y - 2.6f * id.eye_h - 12, eyes_x, id.eye_y + id.eye_h + 4);
    case 6: return box(-(eyes_x + 8), id.eye_y - 6, eyes_x + 8, id.eye_y + 52);
    case 9: return box(-(id.nose_width * 1.6f + 14), id.eye_y - 4, id.nose_width * 1.6f + 14, tip + 10);
    case 12: return box(-(id.mouth_width * 1.3f + 14), tip - 8, id.mouth_width * 1.3f + 14, id.mouth_y + 18);
    case 15: return box(-(id.mouth_width + 14), id.mouth_y - 10, id.mouth_width + 14, id.mouth_y + 26);
    case 17: return box(-(id.mouth_width + 10), id.mouth_y - 6, id.mouth_width + 10, id.face_h + 10);
    case 20: return box(-(id.mouth_width * 1.4f + 14), id.mouth_y - 2 * id.lip_thickness - 10, id.mouth_width * 1.4f + 14,
                        id.mouth_y + 2 * id.lip_thickness + 24);
    case 25: return box(-(id.mouth_width + 10), id.mouth_y - 2 * id.lip_thickness - 8, id.mouth_width + 10, id.mouth_y + 40);
    case 26: return box(-(id.face_w + 10), id.mouth_y - 10, id.face_w + 10, id.face_h + 40);
  }
  throw std::invalid_argument("AU" + std::to_string(au) + " has no region in the synthetic face");
}

}  // namespace psmflow::synth

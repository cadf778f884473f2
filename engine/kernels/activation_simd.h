// GPT-2's activation, GELU with the tanh approximation, and attention's softmax, written once for
// any vector ISA:
// activation_avx2.cc and activation_avx512.cc include this under their own `#pragma GCC target`
// with their own vector traits (as small_batch_tile.h is). Include it nowhere else.
//
// Traits: `V` (kWidth floats), set1, load, store, add, sub, mul, div, fma(a, b, c) = a * b + c,
// min, max (both returning the second operand if either is NaN, as x86's do), round (to
// nearest integer), scale(p, n) = p * 2^n for integral n in [-126, 127], sum(v) and max_of(v)
// (over the lanes).
#pragma once

#include <cstdint>
#include <cstring>

namespace ringserve::model::activation {

// e^y for y in [-87, 88] (the caller clamps): y = n ln2 + r with |r| <= ln2 / 2, e^r from its
// Taylor series to r^7 (truncation under 1e-8 relative, below a float's half ulp), times 2^n.
template <class Isa>
typename Isa::V exp(typename Isa::V y) {
  using V = typename Isa::V;
  const V n = Isa::round(Isa::mul(y, Isa::set1(1.44269504088896341f)));
  // ln 2 in two parts, the first exact in a float's mantissa, so n * ln2_hi has no rounding.
  V r = Isa::fma(n, Isa::set1(-0.693145751953125f), y);
  r = Isa::fma(n, Isa::set1(-1.428606765330187e-06f), r);
  V p = Isa::set1(1.0f / 5040);
  p = Isa::fma(p, r, Isa::set1(1.0f / 720));
  p = Isa::fma(p, r, Isa::set1(1.0f / 120));
  p = Isa::fma(p, r, Isa::set1(1.0f / 24));
  p = Isa::fma(p, r, Isa::set1(1.0f / 6));
  p = Isa::fma(p, r, Isa::set1(0.5f));
  p = Isa::fma(p, r, Isa::set1(1.0f));
  p = Isa::fma(p, r, Isa::set1(1.0f));
  return Isa::scale(p, n);
}

// 0.5 x (1 + tanh(u)), u = sqrt(2 / pi) (x + 0.044715 x^3), computed as x / (1 + e^(-2u)), the
// same function without tanh's cancellation where tanh(u) is near -1. Below x = -20 the value
// is under 1e-80, a float's 0, so x is raised to -20 (max's operand order lets a NaN through);
// -2u is clamped to [-87, 88], past which the quotient is x (or 0) to a float's precision.
template <class Isa>
typename Isa::V gelu_tanh(typename Isa::V x_in) {
  using V = typename Isa::V;
  const V x = Isa::max(Isa::set1(-20.0f), x_in);
  const V x3 = Isa::mul(Isa::mul(x, x), x);
  const V u = Isa::mul(Isa::fma(x3, Isa::set1(0.044715f), x), Isa::set1(0.7978845608028654f));
  V e = Isa::mul(u, Isa::set1(-2.0f));
  e = Isa::max(Isa::min(e, Isa::set1(88.0f)), Isa::set1(-87.0f));
  return Isa::div(x, Isa::add(Isa::set1(1.0f), exp<Isa>(e)));
}

// x[i] = gelu_tanh(x[i]) for i in [0, n). The last partial vector goes through the same vector
// code in a padded copy, so an element's result does not depend on where it sits in x: a
// sequence's activations come out the same whatever else shares its batch.
template <class Isa>
void gelu_tanh_inplace(float* x, int64_t n) {
  int64_t i = 0;
  for (; i + Isa::kWidth <= n; i += Isa::kWidth) {
    Isa::store(x + i, gelu_tanh<Isa>(Isa::load(x + i)));
  }
  if (i == n) return;
  float tail[Isa::kWidth] = {};
  const auto left = static_cast<size_t>(n - i);
  std::memcpy(tail, x + i, left * sizeof(float));
  Isa::store(tail, gelu_tanh<Isa>(Isa::load(tail)));
  std::memcpy(x + i, tail, left * sizeof(float));
}

// x[i] = e^(x[i] - max) / sum over j of e^(x[j] - max), i in [0, n), n >= 1; exponents under
// -87 count as e^-87 (1.6e-38 against a sum of at least 1). The last partial vector runs in a
// padded copy whose extra lanes are left out of the max and the sum.
template <class Isa>
void softmax_inplace(float* x, int64_t n) {
  using V = typename Isa::V;
  const int64_t full = n / Isa::kWidth * Isa::kWidth;
  const auto left = static_cast<size_t>(n - full);
  float tail[Isa::kWidth];
  std::memcpy(tail, x + full, left * sizeof(float));
  float max = x[0];
  if (full > 0) {
    V m = Isa::load(x);
    for (int64_t i = Isa::kWidth; i < full; i += Isa::kWidth) m = Isa::max(m, Isa::load(x + i));
    max = Isa::max_of(m);
  }
  for (size_t i = 0; i < left; ++i) max = tail[i] > max ? tail[i] : max;
  const V vmax = Isa::set1(max);
  const V floor = Isa::set1(-87.0f);
  V total = Isa::set1(0.0f);
  for (int64_t i = 0; i < full; i += Isa::kWidth) {
    const V e = exp<Isa>(Isa::max(Isa::sub(Isa::load(x + i), vmax), floor));
    Isa::store(x + i, e);
    total = Isa::add(total, e);
  }
  float sum = Isa::sum(total);
  if (left > 0) {
    for (size_t i = left; i < Isa::kWidth; ++i) tail[i] = max;
    Isa::store(tail, exp<Isa>(Isa::max(Isa::sub(Isa::load(tail), vmax), floor)));
    for (size_t i = 0; i < left; ++i) sum += tail[i];
    std::memcpy(x + full, tail, left * sizeof(float));
  }
  const float inv = 1.0f / sum;
  const V vinv = Isa::set1(inv);
  for (int64_t i = 0; i < full; i += Isa::kWidth)
    Isa::store(x + i, Isa::mul(Isa::load(x + i), vinv));
  for (int64_t i = full; i < n; ++i) x[i] *= inv;
}

}  // namespace ringserve::model::activation

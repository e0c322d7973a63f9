// Constants of the SIMD exp shared by the AVX2 and AVX-512 kernels (internal linkage).
#pragma once

namespace logitcore {
namespace expc {

// exp(w) = 2^n * exp(r), n = round(w / ln2), r = w - n*ln2 computed with ln2 split in two
// (the high part is the rounded ln2; FMA makes n*hi exact inside the subtraction).
// exp(r) = 1 + r + r^2 * q(r) on |r| <= ln2/2; relative error of the polynomial < 3.1e-9
// (float, degree 6) and < 4e-16 (double, degree 11). Coefficients fitted for this library
// (minimax by Lawson iterations on Chebyshev nodes; bench/fit_exp.py regenerates them).
constexpr float kF2 = 0.49999994f, kF3 = 0.16666521f, kF4 = 0.041668389f, kF5 = 0.0083687101f,
                kF6 = 0.0013814613f;
constexpr float kLn2HiF = 0.693147182f, kLn2LoF = -1.904654300e-09f, kLog2eF = 1.44269502f;
constexpr double kD[10] = {0.4999999999999829,     0.16666666666672797,    0.04166666666788202,
                           0.008333333329648276,   0.0013888888604038556,  0.00019841277073016198,
                           2.48018338311244e-05,   2.7551529421600393e-06, 2.751195388816495e-07,
                           2.6709838915842602e-08};
constexpr double kLn2HiD = 0.6931471805599453, kLn2LoD = 2.3190468138462996e-17,
                 kLog2eD = 1.4426950408889634;


}  // namespace expc
}  // namespace logitcore

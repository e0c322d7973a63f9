// Constants of the SIMD exp and log shared by the AVX2 and AVX-512 kernels, and log2 e and
// ln 2, which every ISA unit's generic kernels use (math.inl: kLog2e, kLn2). Internal linkage.
#pragma once

namespace logitcore_impl {
namespace expc {

// log2 e = 1 / ln 2 and ln 2, rounded to double: the only place these literals appear.
constexpr double kLog2eD = 1.4426950408889634;
constexpr double kLn2D = 0.6931471805599453;

// exp(w) = 2^n * exp(r), n = round(w / ln2), r = w - n*ln2 computed with ln2 split in two
// (the high part is the rounded ln2; FMA makes n*hi exact inside the subtraction).
// exp(r) = 1 + r + r^2 * q(r) on |r| <= ln2/2; relative error of the polynomial < 3.1e-9
// (float, degree 6) and < 4e-16 (double, degree 11). Coefficients fitted for this library
// (minimax by Lawson iterations on Chebyshev nodes; bench/fit_exp.py regenerates them).
constexpr float kF2 = 0.49999994f, kF3 = 0.16666521f, kF4 = 0.041668389f, kF5 = 0.0083687101f,
                kF6 = 0.0013814613f;
constexpr float kLn2HiF = static_cast<float>(kLn2D), kLn2LoF = -1.904654300e-09f,
                kLog2eF = static_cast<float>(kLog2eD);
constexpr double kD[10] = {0.4999999999999829,     0.16666666666672797,    0.04166666666788202,
                           0.008333333329648276,   0.0013888888604038556,  0.00019841277073016198,
                           2.48018338311244e-05,   2.7551529421600393e-06, 2.751195388816495e-07,
                           2.6709838915842602e-08};
constexpr double kLn2HiD = kLn2D, kLn2LoD = 2.3190468138462996e-17;


// log(1 + f) = f - f^2/2 + f^3 * Q(f) on f in [sqrt(1/2) - 1, sqrt(2) - 1] (float; relative
// error of the polynomial < 6e-9, degree 7, fitted like the exp coefficients), and for double
// log(1 + f) = 2 atanh(s), s = f / (2 + f): 2s + s^3 * sum_k 2/(2k+3) s^(2k), k = 0..8
// (truncation error < 1e-17 relative for |s| <= 0.1716).
constexpr float kL[8] = {0.33333331f, -0.2500082f, 0.20001227f, -0.16623357f,
                         0.14201757f, -0.13160183f, 0.12761576f, -0.076344967f};
// 2^r = 1 + r * P(r) on |r| <= 1/2: float degree 6 (minimax, relative error < 2e-9);
// double: Taylor series of exp(r ln2) to degree 12 (truncation < 2e-16 relative).
constexpr float kE2[6] = {0.693147182f, 0.240226477f, 0.0555033237f, 0.00961843692f, 0.00133988739f,
                          0.000153533620f};
// 2^r = 1 + r * P(r) on |r| <= 1/2, float degree 5 for the AVX2 sums (exp2_sum): relative
// error below 1.9e-7 with float rounding (fitted by Lawson's iteration, minimax in the relative
// error); only summed, where the 1e-6 bound of docs/math.md §1 has room for it.
constexpr float kE2Sum[5] = {0.693147f, 0.24022242f, 0.05550734f, 0.00967151f, 0.00132647f};
constexpr double kE2D[12] = {
    kLn2D,                  0.2402265069591007,     0.05550410866482158,    0.009618129107628477,
    0.0013333558146428443,  0.00015403530393381608, 1.525273380405984e-05,  1.3215486790144307e-06,
    1.0178086009239699e-07, 7.054911620801123e-09,  4.445538271870811e-10,  2.567843599348821e-11};
// Table-driven float log2 (AVX-512): m in [1, 2) is split by its top 4 mantissa bits j;
// with c_j = 1 + (j + 1/2)/16, r = m / c_j - 1 lies in [-1/33, 1/33] and
// log2 m = log2 c_j + log2(1 + r), the latter by its Taylor series to r^5 (truncation < 3e-10).
// kLogTabInv[j] = 1/c_j rounded to float, kLogTabLog2[j] = -log2(kLogTabInv[j]).
constexpr float kLogTabInv[16] = {0.9696969985961914f, 0.9142857193946838f, 0.8648648858070374f, 0.8205128312110901f, 0.7804877758026123f, 0.7441860437393188f, 0.7111111283302307f, 0.6808510422706604f, 0.6530612111091614f, 0.6274510025978088f, 0.6037735939025879f, 0.581818163394928f, 0.5614035129547119f, 0.5423728823661804f, 0.5245901346206665f, 0.5079365372657776f};
constexpr float kLogTabLog2[16] = {0.044394075870513916f, 0.12928301095962524f, 0.20945332944393158f, 0.28540220856666565f, 0.35755205154418945f, 0.42626476287841797f, 0.4918530583381653f, 0.5545889139175415f, 0.6147098541259766f, 0.6724252700805664f, 0.727920413017273f, 0.7813597321510315f, 0.832889974117279f, 0.8826430439949036f, 0.9307374358177185f, 0.9772798418998718f};
// The same with 8 centres (AVX2 permutes 8 lanes): c_j = 1 + (j + 1/2)/8, |r| <= 1/17, Taylor
// series to r^6 (truncation < 1e-8).
constexpr float kLogTab8Inv[8] = {0.9411764740943909f, 0.8421052694320679f, 0.761904776096344f, 0.695652186870575f, 0.6399999856948853f, 0.5925925970077515f, 0.5517241358757019f, 0.5161290168762207f};
constexpr float kLogTab8Log2[8] = {0.08746283501386642f, 0.2479275017976761f, 0.39231738448143005f, 0.523561954498291f, 0.6438562273979187f, 0.7548874616622925f, 0.8579810261726379f, 0.9541963338851929f};
constexpr float kLog2Taylor6 = -0.24044917523860931f;
constexpr float kLog2Taylor[5] = {1.4426950216293335f, -0.7213475108146667f, 0.48089835047721863f,
                                  -0.3606737554073334f, 0.28853902220726013f};
constexpr float kSqrt2F = 1.41421356f;
constexpr double kSqrt2D = 1.4142135623730951;
}  // namespace expc
}  // namespace logitcore_impl

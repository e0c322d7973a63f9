// Fills the KernelTable entries (kernels.h) from the family headers: math.inl (shared),
// logsumexp.inl (docs/math.md §1, and the losses of §3), entropy_norm.inl (docs/math.md §2),
// sampling.inl (docs/math.md §4) and sparse.inl (sparse times dense products).
// Included last by each ISA unit inside its anonymous namespace; make_kernels<VF> and
// make_kernels<VD> (and make_half_kernels<VF, S> for the half-precision storage types) are the
// only things the unit hands out, as plain function pointers.

// y = x in the compute type: S widened by the trait's loads (a copy when S is T).
template <class V, class S = typename V::T>
void widen_impl(const S* x, std::int64_t n, typename V::T* y) {
  constexpr std::int64_t W = V::W;
  std::int64_t i = 0;
  for (; i + W <= n; i += W) V::storeu(y + i, V::loadu(x + i));
  if (i < n) V::store_tail(y + i, V::load_tail(x + i, n - i, typename V::T(0)), n - i);
}

template <class V>
KernelsT<typename V::T> make_kernels() {
  KernelsT<typename V::T> k;
  k.stats = &stats_plain<V>;
  k.stats_exact = &stats_plain<V, SubMul<V>>;
  k.stats_entropy = &stats_entropy<V>;
  k.stats_store = &stats_store_dispatch<V>;
  k.excess = &excess_impl<V>;
  k.split_sum = &split_sum_impl<V>;
  k.exp_store_sum = &exp_store_sum_impl<V>;
  k.stats_w = &stats_weighted<V>;
  k.exp_scale = &exp_scale_impl<V>;
  k.sub = &sub2_impl<V>;
  k.plogp = &plogp_vec<V>;
  k.exp = &exp_impl<V>;
  k.log = &log_impl<V>;
  k.scan = &scan_impl<V>;
  k.max = &block_max_d<V>;
  k.prep = &prep_dispatch<V>;
  k.moments = &moments_dispatch<V>;
  k.scale_store = &scale_store_impl<V>;
  k.exp_gamma_scale = &exp_gamma_scale_impl<V>;
  k.exp2 = &exp2_impl<V>;
  k.log2 = &log2_impl<V>;
  k.select_nlt = &select_nlt_impl<V>;
  k.group_max = &group_max_impl<V>;
  k.tempered_split = &tempered_split_impl<V>;
  k.tempered_exp = &tempered_exp_impl<V>;
  k.widen = &widen_impl<V>;
  k.csr_rows_i32 = &csr_rows_impl<V, std::int32_t>;
  k.csr_rows_i64 = &csr_rows_impl<V, std::int64_t>;
  return k;
}

// The logsumexp family (docs/math.md §1) and the losses' passes (§3) on half-precision storage
// S, computed in float32 by VF: the same generic kernels, their loads and stores converting
// (the trait's overloads for S). Kernels on compute-type scratch only (split_sum, moments,
// exp_gamma_scale) are the float ones; the other entries stay null.
template <class V, class S>
KernelsT<S> make_half_kernels() {
  static_assert(std::is_same<typename V::T, float>::value, "half storage is computed in float32");
  KernelsT<S> k{};
  k.stats = &stats_plain<V, FusedW2<V>, S>;
  k.stats_exact = &stats_plain<V, SubMul<V>, S>;
  k.stats_entropy = &stats_entropy<V, S>;
  k.stats_store = &stats_store_dispatch<V, S>;
  k.excess = &excess_impl<V, S>;
  k.split_sum = &split_sum_impl<V>;
  k.exp_store_sum = &exp_store_sum_impl<V, S>;
  k.stats_w = &stats_weighted<V, FusedW2<V>, S>;
  k.exp_scale = &exp_scale_impl<V, S>;
  k.sub = &sub2_impl<V, S>;
  k.plogp = &plogp_vec<V, S>;
  k.scan = &scan_impl<V, S>;
  k.max = &block_max_d<V, S>;
  k.scale_store = &scale_store_impl<V, S>;
  // entropy normalization (§2): prep reads S; the search and output passes work on float
  // scratch (the float kernels), the output stored through scale_store
  k.prep = &prep_dispatch<V, S>;
  k.moments = &moments_dispatch<V>;
  k.exp_gamma_scale = &exp_gamma_scale_impl<V>;
  // the sampler's rows, widened once; the sparse product's dense operand
  k.widen = &widen_impl<V, S>;
  k.csr_rows_i32 = &csr_rows_impl<V, std::int32_t, S>;
  k.csr_rows_i64 = &csr_rows_impl<V, std::int64_t, S>;
  return k;
}

// Fills the KernelTable entries (kernels.h) from the family headers: math.inl (shared),
// logsumexp.inl (docs/math.md §1, and the losses of §3), entropy_norm.inl (docs/math.md §2),
// sampling.inl (docs/math.md §4) and sparse.inl (sparse times dense products).
// Included last by each ISA unit inside its anonymous namespace; make_kernels<VF> and
// make_kernels<VD> are the only things the unit hands out, as plain function pointers.

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
  k.csr_rows_i32 = &csr_rows_impl<V, std::int32_t>;
  k.csr_rows_i64 = &csr_rows_impl<V, std::int64_t>;
  return k;
}

package hashring

// glibcMsort sorts n elements with cmp the way glibc 2.36's qsort does for
// arrays that fit its merge buffer (every ring here): a top-down merge sort
// that splits at n/2 and takes from the left run while cmp(left, right) <= 0.
// For a total order this is just a stable sort; carbon-c-relay's jump_fnv1a_ch
// comparator is not transitive (numeric and string comparison mixed, and an
// int overflow), so the exact merge order decides the member order and we
// reproduce it. perm holds the element indexes being sorted; tmp is scratch
// of the same length.
func glibcMsort(perm, tmp []int, cmp func(a, b int) int) {
	n := len(perm)
	if n <= 1 {
		return
	}
	n1 := n / 2
	glibcMsort(perm[:n1], tmp[:n1], cmp)
	glibcMsort(perm[n1:], tmp[n1:], cmp)
	i, j, k := 0, n1, 0
	for i < n1 && j < n {
		if cmp(perm[i], perm[j]) <= 0 {
			tmp[k] = perm[i]
			i++
		} else {
			tmp[k] = perm[j]
			j++
		}
		k++
	}
	k += copy(tmp[k:], perm[i:n1])
	// The rest of the right run is already in place.
	copy(perm[:k], tmp[:k])
}

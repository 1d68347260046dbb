package expr

import "slices"

// highestMax keeps the n series with the greatest maximum, greatest first.
func highestMax(c *call) ([]*Series, error) {
	list := sortedByMax(c.seriesList("seriesList"))
	return list[:pySliceEnd(c.int("n", 1), len(list))], nil
}

// limit keeps the first n series.
func limit(c *call) ([]*Series, error) {
	list := c.seriesList("seriesList")
	return slices.Clone(list[:pySliceEnd(c.int("n", 0), len(list))]), nil
}

// sortByMaxima orders series by their maximum, greatest first; a series of
// nulls counts as -inf and ties keep their order.
func sortByMaxima(c *call) ([]*Series, error) {
	return sortedByMax(c.seriesList("seriesList")), nil
}

func sortedByMax(list []*Series) []*Series {
	out := slices.Clone(list)
	key := func(s *Series) float64 {
		m := safeMax(s.Values)
		if isNull(m) {
			return -inf
		}
		return m
	}
	slices.SortStableFunc(out, func(a, b *Series) int {
		ka, kb := key(a), key(b)
		switch {
		case ka > kb:
			return -1
		case ka < kb:
			return 1
		}
		return 0
	})
	return out
}

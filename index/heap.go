package index

import "slices"

// candidate is a slot with its distance to the current query.
type candidate struct {
	dist float32
	slot uint32
}

// minQueue is a binary min-heap of candidates by distance. It is written out
// by hand rather than through container/heap because the interface calls
// cost more than the distance computations they order.
type minQueue []candidate

func (q *minQueue) push(c candidate) {
	*q = append(*q, c)
	h := *q
	i := len(h) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].dist <= h[i].dist {
			break
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
}

func (q *minQueue) pop() candidate {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	siftDownMin(h, 0)
	*q = h
	return top
}

// maxQueue is a binary max-heap of candidates by distance: its top is the
// worst of the best seen so far, the one to evict when a better one arrives.
type maxQueue []candidate

func (q *maxQueue) push(c candidate) {
	*q = append(*q, c)
	h := *q
	i := len(h) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].dist >= h[i].dist {
			break
		}
		h[parent], h[i] = h[i], h[parent]
		i = parent
	}
}

func (q *maxQueue) pop() candidate {
	h := *q
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	siftDownMax(h, 0)
	*q = h
	return top
}

// pushBounded keeps at most limit candidates, evicting the worst.
func (q *maxQueue) pushBounded(c candidate, limit int) {
	if len(*q) < limit {
		q.push(c)
		return
	}
	if c.dist >= (*q)[0].dist {
		return
	}
	(*q)[0] = c
	siftDownMax(*q, 0)
}

func siftDownMin(h []candidate, i int) {
	n := len(h)
	for {
		best := 2*i + 1
		if best >= n {
			return
		}
		if right := best + 1; right < n && h[right].dist < h[best].dist {
			best = right
		}
		if h[best].dist >= h[i].dist {
			return
		}
		h[i], h[best] = h[best], h[i]
		i = best
	}
}

func siftDownMax(h []candidate, i int) {
	n := len(h)
	for {
		best := 2*i + 1
		if best >= n {
			return
		}
		if right := best + 1; right < n && h[right].dist > h[best].dist {
			best = right
		}
		if h[best].dist <= h[i].dist {
			return
		}
		h[i], h[best] = h[best], h[i]
		i = best
	}
}

// sortedAscending empties q and returns its candidates nearest first.
func (q *maxQueue) sortedAscending() []candidate {
	return q.appendAscending(make([]candidate, 0, len(*q)))
}

// appendAscending empties q and appends its candidates to dst, nearest first.
func (q *maxQueue) appendAscending(dst []candidate) []candidate {
	start := len(dst)
	dst = slices.Grow(dst, len(*q))[:start+len(*q)]
	for i := len(dst) - 1; i >= start; i-- {
		dst[i] = q.pop()
	}
	return dst
}

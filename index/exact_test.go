package index

import (
	"errors"
	"math"
	"testing"
)

// vectorIndexes returns one fresh instance of every Vector implementation,
// so behaviour promised by the interface is tested on all of them.
func vectorIndexes(dim int) map[string]Vector {
	return map[string]Vector{
		"exact": NewExact(dim),
		"hnsw":  NewHNSW(dim, DefaultHNSWConfig()),
		"auto":  NewAutoCrossover(dim, DefaultHNSWConfig(), 8),
	}
}

func TestVectorContract(t *testing.T) {
	for name, idx := range vectorIndexes(2) {
		t.Run(name, func(t *testing.T) {
			points := map[string][]float32{
				"east": {1, 0}, "north": {0, 1}, "west": {-1, 0}, "south": {0, -1},
				"northeast": {1, 1}, "far_east": {10, 0.1},
			}
			for id, v := range points {
				if err := idx.Add(id, v); err != nil {
					t.Fatalf("Add(%s): %v", id, err)
				}
			}
			if idx.Len() != len(points) || idx.Dim() != 2 {
				t.Fatalf("Len, Dim = %d, %d; want %d, 2", idx.Len(), idx.Dim(), len(points))
			}
			got := idx.Search([]float32{2, 0}, 3, nil)
			if len(got) != 3 || got[0].ID != "east" || got[1].ID != "far_east" || got[2].ID != "northeast" {
				t.Fatalf("Search = %+v, want east, far_east, northeast", got)
			}
			if math.Abs(float64(got[0].Score)-1) > 1e-6 || math.Abs(float64(got[0].Distance)) > 1e-6 {
				t.Fatalf("top hit score %v distance %v, want 1 and 0", got[0].Score, got[0].Distance)
			}
			if math.Abs(float64(got[2].Score)-math.Sqrt2/2) > 1e-6 {
				t.Fatalf("northeast score %v, want cos 45° = %v", got[2].Score, math.Sqrt2/2)
			}

			onlyCardinal := func(id string) bool { return len(id) <= 5 }
			got = idx.Search([]float32{1, 0.2}, 2, onlyCardinal)
			if len(got) != 2 || got[0].ID != "east" || got[1].ID != "north" {
				t.Fatalf("filtered Search = %+v, want east, north", got)
			}

			if !idx.Delete("east") || idx.Delete("east") {
				t.Fatal("Delete should report true once, then false")
			}
			if err := idx.Add("west", []float32{1, 0.001}); err != nil {
				t.Fatal(err)
			}
			got = idx.Search([]float32{1, 0}, 10, nil)
			if len(got) != 5 || got[0].ID != "west" {
				t.Fatalf("after delete and update Search = %+v, want 5 hits led by moved west", got)
			}
			for _, r := range got {
				if r.ID == "east" {
					t.Fatal("deleted id returned")
				}
			}

			if err := idx.Add("bad", []float32{1}); !errors.Is(err, ErrDimension) {
				t.Fatalf("short vector: err = %v, want ErrDimension", err)
			}
			if err := idx.Add("", []float32{1, 0}); !errors.Is(err, ErrEmptyID) {
				t.Fatalf("empty id: err = %v, want ErrEmptyID", err)
			}
			if err := idx.Add("nan", []float32{float32(math.NaN()), 0}); !errors.Is(err, ErrBadVector) {
				t.Fatalf("NaN: err = %v, want ErrBadVector", err)
			}
			if got := idx.Search([]float32{1}, 3, nil); got != nil {
				t.Fatalf("wrong-dimension query returned %v", got)
			}
			if got := idx.Search([]float32{1, 0}, 0, nil); got != nil {
				t.Fatalf("k=0 returned %v", got)
			}
		})
	}
}

func TestVectorEmptyAndDrained(t *testing.T) {
	for name, idx := range vectorIndexes(3) {
		t.Run(name, func(t *testing.T) {
			if got := idx.Search([]float32{1, 0, 0}, 5, nil); len(got) != 0 {
				t.Fatalf("empty index returned %v", got)
			}
			for i := range 20 {
				if err := idx.Add(itemID(i), []float32{1, float32(i), 0}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 20 {
				idx.Delete(itemID(i))
			}
			if got := idx.Search([]float32{1, 0, 0}, 5, nil); len(got) != 0 || idx.Len() != 0 {
				t.Fatalf("drained index returned %v, Len %d", got, idx.Len())
			}
		})
	}
}

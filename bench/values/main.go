// Benchmark program: one frame with about 115 locals of the kinds real programs hold
// (numbers, strings, structs, pointers, slices, maps, errors, interfaces, time.Time,
// nested values). Generated once; the bench stops at @stop and loads everything.
package main

import (
	"fmt"
	"os"
	"time"
)

type Point struct {
	X, Y  int
	Label string
}

type Inner struct {
	Name string
	Vals []float64
	Next *Inner
}

type Outer struct {
	ID   int
	In   Inner
	Tags map[string][]string
	When time.Time
}

func bigMap() map[int]string {
	m := map[int]string{}
	for i := 0; i < 30; i++ {
		m[i] = fmt.Sprint("v", i)
	}
	return m
}

//go:noinline
func use(xs ...any) int { return len(xs) }

//go:noinline
func work(arg1 int, arg2 string) int {
	var i0 int = 0 * 7
	var s0 string = fmt.Sprintf("str-%d", 1)
	var f0 float64 = float64(2) / 3
	var p0 Point = Point{X: 3, Y: -3, Label: "pt"}
	var pp0 *Point = &Point{X: 4, Y: 4, Label: "ptr"}
	var sl0 []int = []int{5, 5 + 1, 5 + 2, 5 + 3}
	var m0 map[string]int = map[string]int{"a": 6, "b": 6 + 1, "c": 3}
	var e0 error = fmt.Errorf("err %d: %w", 7, os.ErrNotExist)
	var a0 any = Inner{Name: "in", Vals: []float64{1, 2}, Next: &Inner{Name: "deep"}}
	var o0 Outer = Outer{ID: 9, In: Inner{Name: "o", Vals: []float64{3}}, Tags: map[string][]string{"k": {"v1", "v2"}}, When: time.Unix(1700000000, 0).UTC()}
	var b0 bool = 10%2 == 0
	var i1 int = 11 * 7
	var s1 string = fmt.Sprintf("str-%d", 12)
	var f1 float64 = float64(13) / 3
	var p1 Point = Point{X: 14, Y: -14, Label: "pt"}
	var pp1 *Point = &Point{X: 15, Y: 15, Label: "ptr"}
	var sl1 []int = []int{16, 16 + 1, 16 + 2, 16 + 3}
	var m1 map[string]int = map[string]int{"a": 17, "b": 17 + 1, "c": 3}
	var e1 error = fmt.Errorf("err %d: %w", 18, os.ErrNotExist)
	var a1 any = Inner{Name: "in", Vals: []float64{1, 2}, Next: &Inner{Name: "deep"}}
	var o1 Outer = Outer{ID: 20, In: Inner{Name: "o", Vals: []float64{3}}, Tags: map[string][]string{"k": {"v1", "v2"}}, When: time.Unix(1700000000, 0).UTC()}
	var b1 bool = 21%2 == 0
	var i2 int = 22 * 7
	var s2 string = fmt.Sprintf("str-%d", 23)
	var f2 float64 = float64(24) / 3
	var p2 Point = Point{X: 25, Y: -25, Label: "pt"}
	var pp2 *Point = &Point{X: 26, Y: 26, Label: "ptr"}
	var sl2 []int = []int{27, 27 + 1, 27 + 2, 27 + 3}
	var m2 map[string]int = map[string]int{"a": 28, "b": 28 + 1, "c": 3}
	var e2 error = fmt.Errorf("err %d: %w", 29, os.ErrNotExist)
	var a2 any = Inner{Name: "in", Vals: []float64{1, 2}, Next: &Inner{Name: "deep"}}
	var o2 Outer = Outer{ID: 31, In: Inner{Name: "o", Vals: []float64{3}}, Tags: map[string][]string{"k": {"v1", "v2"}}, When: time.Unix(1700000000, 0).UTC()}
	var b2 bool = 32%2 == 0
	var i3 int = 33 * 7
	var s3 string = fmt.Sprintf("str-%d", 34)
	var f3 float64 = float64(35) / 3
	var p3 Point = Point{X: 36, Y: -36, Label: "pt"}
	var pp3 *Point = &Point{X: 37, Y: 37, Label: "ptr"}
	var sl3 []int = []int{38, 38 + 1, 38 + 2, 38 + 3}
	var m3 map[string]int = map[string]int{"a": 39, "b": 39 + 1, "c": 3}
	var e3 error = fmt.Errorf("err %d: %w", 40, os.ErrNotExist)
	var a3 any = Inner{Name: "in", Vals: []float64{1, 2}, Next: &Inner{Name: "deep"}}
	var o3 Outer = Outer{ID: 42, In: Inner{Name: "o", Vals: []float64{3}}, Tags: map[string][]string{"k": {"v1", "v2"}}, When: time.Unix(1700000000, 0).UTC()}
	var b3 bool = 43%2 == 0
	var i4 int = 44 * 7
	var s4 string = fmt.Sprintf("str-%d", 45)
	var f4 float64 = float64(46) / 3
	var p4 Point = Point{X: 47, Y: -47, Label: "pt"}
	var pp4 *Point = &Point{X: 48, Y: 48, Label: "ptr"}
	var sl4 []int = []int{49, 49 + 1, 49 + 2, 49 + 3}
	var m4 map[string]int = map[string]int{"a": 50, "b": 50 + 1, "c": 3}
	var e4 error = fmt.Errorf("err %d: %w", 51, os.ErrNotExist)
	var a4 any = Inner{Name: "in", Vals: []float64{1, 2}, Next: &Inner{Name: "deep"}}
	var o4 Outer = Outer{ID: 53, In: Inner{Name: "o", Vals: []float64{3}}, Tags: map[string][]string{"k": {"v1", "v2"}}, When: time.Unix(1700000000, 0).UTC()}
	var b4 bool = 54%2 == 0
	var i5 int = 55 * 7
	var s5 string = fmt.Sprintf("str-%d", 56)
	var f5 float64 = float64(57) / 3
	var p5 Point = Point{X: 58, Y: -58, Label: "pt"}
	var pp5 *Point = &Point{X: 59, Y: 59, Label: "ptr"}
	var sl5 []int = []int{60, 60 + 1, 60 + 2, 60 + 3}
	var m5 map[string]int = map[string]int{"a": 61, "b": 61 + 1, "c": 3}
	var e5 error = fmt.Errorf("err %d: %w", 62, os.ErrNotExist)
	var a5 any = Inner{Name: "in", Vals: []float64{1, 2}, Next: &Inner{Name: "deep"}}
	var o5 Outer = Outer{ID: 64, In: Inner{Name: "o", Vals: []float64{3}}, Tags: map[string][]string{"k": {"v1", "v2"}}, When: time.Unix(1700000000, 0).UTC()}
	var b5 bool = 65%2 == 0
	var i6 int = 66 * 7
	var s6 string = fmt.Sprintf("str-%d", 67)
	var f6 float64 = float64(68) / 3
	var p6 Point = Point{X: 69, Y: -69, Label: "pt"}
	var pp6 *Point = &Point{X: 70, Y: 70, Label: "ptr"}
	var sl6 []int = []int{71, 71 + 1, 71 + 2, 71 + 3}
	var m6 map[string]int = map[string]int{"a": 72, "b": 72 + 1, "c": 3}
	var e6 error = fmt.Errorf("err %d: %w", 73, os.ErrNotExist)
	var a6 any = Inner{Name: "in", Vals: []float64{1, 2}, Next: &Inner{Name: "deep"}}
	var o6 Outer = Outer{ID: 75, In: Inner{Name: "o", Vals: []float64{3}}, Tags: map[string][]string{"k": {"v1", "v2"}}, When: time.Unix(1700000000, 0).UTC()}
	var b6 bool = 76%2 == 0
	var i7 int = 77 * 7
	var s7 string = fmt.Sprintf("str-%d", 78)
	var f7 float64 = float64(79) / 3
	var p7 Point = Point{X: 80, Y: -80, Label: "pt"}
	var pp7 *Point = &Point{X: 81, Y: 81, Label: "ptr"}
	var sl7 []int = []int{82, 82 + 1, 82 + 2, 82 + 3}
	var m7 map[string]int = map[string]int{"a": 83, "b": 83 + 1, "c": 3}
	var e7 error = fmt.Errorf("err %d: %w", 84, os.ErrNotExist)
	var a7 any = Inner{Name: "in", Vals: []float64{1, 2}, Next: &Inner{Name: "deep"}}
	var o7 Outer = Outer{ID: 86, In: Inner{Name: "o", Vals: []float64{3}}, Tags: map[string][]string{"k": {"v1", "v2"}}, When: time.Unix(1700000000, 0).UTC()}
	var b7 bool = 87%2 == 0
	var i8 int = 88 * 7
	var s8 string = fmt.Sprintf("str-%d", 89)
	var f8 float64 = float64(90) / 3
	var p8 Point = Point{X: 91, Y: -91, Label: "pt"}
	var pp8 *Point = &Point{X: 92, Y: 92, Label: "ptr"}
	var sl8 []int = []int{93, 93 + 1, 93 + 2, 93 + 3}
	var m8 map[string]int = map[string]int{"a": 94, "b": 94 + 1, "c": 3}
	var e8 error = fmt.Errorf("err %d: %w", 95, os.ErrNotExist)
	var a8 any = Inner{Name: "in", Vals: []float64{1, 2}, Next: &Inner{Name: "deep"}}
	var o8 Outer = Outer{ID: 97, In: Inner{Name: "o", Vals: []float64{3}}, Tags: map[string][]string{"k": {"v1", "v2"}}, When: time.Unix(1700000000, 0).UTC()}
	var b8 bool = 98%2 == 0
	var i9 int = 99 * 7
	var s9 string = fmt.Sprintf("str-%d", 100)
	var f9 float64 = float64(101) / 3
	var p9 Point = Point{X: 102, Y: -102, Label: "pt"}
	var pp9 *Point = &Point{X: 103, Y: 103, Label: "ptr"}
	var sl9 []int = []int{104, 104 + 1, 104 + 2, 104 + 3}
	var m9 map[string]int = map[string]int{"a": 105, "b": 105 + 1, "c": 3}
	var e9 error = fmt.Errorf("err %d: %w", 106, os.ErrNotExist)
	var a9 any = Inner{Name: "in", Vals: []float64{1, 2}, Next: &Inner{Name: "deep"}}
	var o9 Outer = Outer{ID: 108, In: Inner{Name: "o", Vals: []float64{3}}, Tags: map[string][]string{"k": {"v1", "v2"}}, When: time.Unix(1700000000, 0).UTC()}
	var b9 bool = 109%2 == 0
	var ch0 chan int = make(chan int, 4)
	var fn0 func(int) int = func(x int) int { return x + 1 }
	var big0 []Point = make([]Point, 100)
	var bm0 map[int]string = bigMap()
	var nest0 [][]int = [][]int{{1, 2}, {3, 4}, {5}}
	n := use(i0, s0, f0, p0, pp0, sl0, m0, e0, a0, o0, b0, i1, s1, f1, p1, pp1, sl1, m1, e1, a1, o1, b1, i2, s2, f2, p2, pp2, sl2, m2, e2, a2, o2, b2, i3, s3, f3, p3, pp3, sl3, m3, e3, a3, o3, b3, i4, s4, f4, p4, pp4, sl4, m4, e4, a4, o4, b4, i5, s5, f5, p5, pp5, sl5, m5, e5, a5, o5, b5, i6, s6, f6, p6, pp6, sl6, m6, e6, a6, o6, b6, i7, s7, f7, p7, pp7, sl7, m7, e7, a7, o7, b7, i8, s8, f8, p8, pp8, sl8, m8, e8, a8, o8, b8, i9, s9, f9, p9, pp9, sl9, m9, e9, a9, o9, b9, ch0, fn0, big0, bm0, nest0) // @stop
	return n + arg1 + len(arg2)
}

func main() {
	fmt.Println(work(1, "two"))
	fmt.Println(work(2, "three")) // a second stop at the same place: what is loaded stays
}

package expr

import "fmt"

// constantLine is a series of three points of value across the request's
// window, named by the value as Python prints a float.
func constantLine(c *call) ([]*Series, error) {
	v := c.float("value", 0)
	start, end := c.c.From, c.c.Until
	step := int64(float64(end-start) / 2)
	s := newSeries(pyFloatStr(v), start, end, step, []float64{v, v, v})
	s.PathExpression = fmt.Sprintf("constantLine(%s)", pyFloatStr(v))
	return []*Series{s}, nil
}

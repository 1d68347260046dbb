package expr

import "fmt"

// maxWindowPoints bounds a movingAverage window given as a count, so the
// earlier window it reads cannot overflow.
const maxWindowPoints = 1 << 30

// movingAverage is the average of the windowSize points before each point
// (windowSize a count of points, or an interval such as "5min"). As
// graphite-web does, it evaluates its input again over a window that starts
// that much earlier, so the first points have a full window, and a point is
// null when the window's share of non-null values is below xFilesFactor
// (default 0: at least one).
func movingAverage(c *call) ([]*Series, error) {
	list := c.seriesList("seriesList")
	if len(list) == 0 {
		return nil, nil
	}
	ws, _ := c.value("windowSize")
	var preview int64
	if ws.kind == kindString {
		secs, err := parseOffset(ws.str)
		if err != nil {
			return nil, err
		}
		preview = max(secs, -secs)
	} else {
		if n := ws.num.Value; n < 0 || n > maxWindowPoints {
			return nil, fmt.Errorf("windowSize %s must be between 0 and %d points", ws.num.Raw, maxWindowPoints)
		}
		var maxStep int64
		for _, s := range list {
			maxStep = max(maxStep, s.Step)
		}
		preview = maxStep * int64(ws.num.Value)
	}
	xff, hasXFF := c.optFloat("xFilesFactor")
	earlier := *c.c
	earlier.From -= preview
	v, err := evalExpr(c.ctx, &earlier, c.argExpr(0, "seriesList"))
	if err != nil {
		return nil, err
	}
	out := make([]*Series, 0, len(v.series))
	for _, s := range v.series {
		var name string
		var points int
		if ws.kind == kindString {
			name = fmt.Sprintf("movingAverage(%s,\"%s\")", s.Name, ws.str)
			points = int(preview / s.Step)
		} else {
			name = fmt.Sprintf("movingAverage(%s,%d)", s.Name, int(ws.num.Value))
			points = int(ws.num.Value)
		}
		vals := make([]float64, 0, max(len(s.Values)-points, 0))
		for i := points; i < len(s.Values); i++ {
			window := nonNull(s.Values[i-points : i])
			if len(window) > 0 && (!hasXFF || float64(len(window))/float64(points) >= xff) {
				vals = append(vals, safeAvg(window))
			} else {
				vals = append(vals, nan)
			}
		}
		ns := derive(s, name, vals)
		ns.Start = s.Start + preview
		out = append(out, ns)
	}
	return out, nil
}

package datastore

import (
	"io"
	"sync"

	"github.com/sirupsen/logrus"
	"k8s.io/klog/v2"
)

var routeOnce sync.Once

// routeKineLogs sends kine's logrus output through klog, so that the binary
// logs in one format. logrus is process-wide, so this happens once.
func routeKineLogs() {
	routeOnce.Do(func() {
		logrus.SetOutput(io.Discard)
		logrus.SetLevel(logrus.InfoLevel)
		logrus.AddHook(klogHook{})
	})
}

type klogHook struct{}

func (klogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (klogHook) Fire(e *logrus.Entry) error {
	const depth = 8 // logrus frames between the caller and the hook
	switch {
	case e.Level <= logrus.ErrorLevel:
		klog.ErrorDepth(depth, "kine: "+e.Message)
	case e.Level == logrus.WarnLevel:
		klog.WarningDepth(depth, "kine: "+e.Message)
	case e.Level == logrus.InfoLevel:
		klog.V(1).InfoDepth(depth, "kine: "+e.Message)
	default:
		klog.V(4).InfoDepth(depth, "kine: "+e.Message)
	}
	return nil
}

package etcd

import (
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"
)

// klogLogger is etcd's zap logger writing through klog, so that the binary
// logs in one format: etcd's errors and warnings as klog's, its info lines
// (several per second while members join or elect) only at -v 2.
func klogLogger() *zap.Logger {
	enc := zapcore.NewConsoleEncoder(zapcore.EncoderConfig{
		MessageKey:     "msg",
		NameKey:        "logger",
		LineEnding:     "",
		EncodeDuration: zapcore.StringDurationEncoder,
		EncodeName:     zapcore.FullNameEncoder,
	})
	return zap.New(&klogCore{enc: enc})
}

type klogCore struct {
	enc zapcore.Encoder
}

var _ zapcore.Core = (*klogCore)(nil)

func (c *klogCore) Enabled(l zapcore.Level) bool {
	return l >= zapcore.WarnLevel || (l == zapcore.InfoLevel && klog.V(2).Enabled()) || klog.V(4).Enabled()
}

func (c *klogCore) With(fields []zapcore.Field) zapcore.Core {
	enc := c.enc.Clone()
	for _, f := range fields {
		f.AddTo(enc)
	}
	return &klogCore{enc: enc}
}

func (c *klogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *klogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	buf, err := c.enc.EncodeEntry(e, fields)
	if err != nil {
		return err
	}
	line := "etcd: " + strings.TrimSpace(buf.String())
	buf.Free()
	switch {
	case e.Level >= zapcore.ErrorLevel:
		klog.ErrorDepth(1, line)
	case e.Level == zapcore.WarnLevel:
		klog.WarningDepth(1, line)
	default:
		klog.InfoDepth(1, line)
	}
	return nil
}

func (c *klogCore) Sync() error { return nil }

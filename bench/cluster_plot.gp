# Plots bench/cluster's slow-replica part: throughput and p99 by mode, as bars.
# Called by bench/cluster as: gnuplot -e "datafile='...'; outfile='...'" bench/cluster_plot.gp
# datafile columns: mode (p2c, rr, haproxy), median rps, median p99 (us).
if (!exists("datafile")) datafile = 'cluster.dat'
if (!exists("outfile")) outfile = 'cluster.png'

set terminal pngcairo size 1100,460 font "DejaVu Sans,11"
set output outfile
set multiplot layout 1,2 title "Three replicas on 127.0.0.1, one slowed (medians over repetitions)"
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.6
set grid ytics
set yrange [0:*]
unset key

set title "Throughput (higher is better)"
set ylabel "successful requests per second"
set format y "%.0f"
plot datafile using 2:xtic(1) lc rgb "#1b7837"

set title "p99 latency (lower is better)"
set ylabel "microseconds"
plot datafile using 3:xtic(1) lc rgb "#c51b7d"
unset multiplot

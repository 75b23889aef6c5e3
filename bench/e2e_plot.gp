# Plots bench/e2e's results: throughput and p99 latency against client threads, one line per mode.
# Called by bench/e2e as:
#   gnuplot -e "datafile='...'; outfile='...'; subtitle='...'" bench/e2e_plot.gp
# datafile columns: threads, then median rps and median p99 (us) of pool, per-call, raw.
if (!exists("datafile")) datafile = 'benchmarks.dat'
if (!exists("outfile")) outfile = 'benchmarks.png'
if (!exists("subtitle")) subtitle = ''

set terminal pngcairo size 1400,560 font "DejaVu Sans,11"
set output outfile
set multiplot layout 1,2 title "user\\_client against one user\\_server on 127.0.0.1 (medians)\n".subtitle

set logscale x 2
set xtics (1, 2, 4, 8, 16)
set xrange [0.8:20]
set xlabel "client threads (pool max\\_cap = threads)"
set grid
set key top left
set style line 1 lc rgb "#1b7837" lw 2 pt 7 ps 1.2
set style line 2 lc rgb "#c51b7d" lw 2 pt 5 ps 1.2
set style line 3 lc rgb "#2166ac" lw 2 pt 9 ps 1.2 dt 2

set title "Throughput (higher is better)"
set ylabel "successful requests per second"
set yrange [0:*]
set format y "%.0f"
plot datafile using 1:2 with linespoints ls 1 title "pool", \
     ''       using 1:3 with linespoints ls 2 title "per-call", \
     ''       using 1:4 with linespoints ls 3 title "raw"

set title "p99 latency (lower is better; log scale)"
set ylabel "p99 latency (us)"
set logscale y 10
set yrange [*:*]
set format y "%g"
plot datafile using 1:5 with linespoints ls 1 title "pool", \
     ''       using 1:6 with linespoints ls 2 title "per-call", \
     ''       using 1:7 with linespoints ls 3 title "raw"

unset multiplot

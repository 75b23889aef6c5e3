# Plots bench/e2e's sizing curve: throughput and p99 latency against client threads, one line per
# max_cap. Called by bench/e2e (E2E_SCENARIO=sizing) as:
#   gnuplot -e "datafile='...'; outfile='...'; subtitle='...'" -e "threads='4 16 ...'" \
#           -e "caps='2 4 ...'" bench/sizing_plot.gp
# datafile columns: threads, then the median rps for each of caps, then the median p99 (us) for
# each of caps, in that order; NaN where a configuration did not run (max_cap above the threads).
if (!exists("datafile")) datafile = 'sizing.dat'
if (!exists("outfile")) outfile = 'sizing.png'
if (!exists("subtitle")) subtitle = ''
if (!exists("threads")) threads = '4 16 64 256 512'
if (!exists("caps")) caps = '2 4 8 16 32'
n = words(caps)

set terminal pngcairo size 1400,560 font "DejaVu Sans,11"
set output outfile
set multiplot layout 1,2 title "ThriftClientPool sizing: user\\_client against one user\\_server on 127.0.0.1 (medians)\n".subtitle

set logscale x 2
set xtics ()
do for [i=1:words(threads)] { set xtics add (word(threads, i) word(threads, i) + 0) }
set xrange [word(threads, 1) * 0.8 : word(threads, words(threads)) * 1.25]
set xlabel "client threads (log scale)"
set grid
set key outside right top title "max\\_cap"
set datafile missing NaN
# One colour per max_cap, light to dark as it grows.
set palette defined (0 "#fdae61", 1 "#d7191c", 2 "#2c7bb6", 3 "#1a9641")
set cbrange [1:n > 1 ? n : 2]
unset colorbox

set title "Throughput (higher is better)"
set ylabel "successful requests per second"
set yrange [0:*]
set format y "%.0f"
plot for [i=1:n] datafile using 1:(column(i + 1)) with linespoints lw 2 pt 7 ps 1.1 \
     lc palette cb i title word(caps, i)

set title "p99 latency, including the wait for a connection (lower is better; log scale)"
set ylabel "p99 latency (us)"
set logscale y 10
set yrange [*:*]
set format y "%g"
plot for [i=1:n] datafile using 1:(column(n + i + 1)) with linespoints lw 2 pt 7 ps 1.1 \
     lc palette cb i title word(caps, i)

unset multiplot

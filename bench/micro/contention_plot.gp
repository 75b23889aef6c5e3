# Plots bench/micro/contention_bench's table: gnuplot -e "data='FILE.dat'; out='OUT.png'" contention_plot.gp
# FILE.dat columns: row parked_ratio locked_ratio parked_p99_ms locked_p99_ms handwritten_p99_ms
# parked_get_put_p99_ms locked_get_put_p99_ms handwritten_get_put_p99_ms
# (contention_bench --dat FILE appends those lines).
set terminal pngcairo size 1500,480 font ",10" noenhanced
set output out
set multiplot layout 1,3 title "Many threads, few objects (threads/max_cap/hold us): ChannelPool vs a hand-written pool"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set xtics rotate by -30
set grid ytics
set title "throughput / hand-written pool's"
set yrange [0:1.5]
plot data using 2:xtic(1) title "parked (default)", '' using 3 title "locked (min_idle 1)", 1 with lines lc rgb "black" dt 2 notitle
set title "wait p99, ms (log scale)"
set logscale y
set yrange [0.1:*]
plot data using 4:xtic(1) title "parked (default)", '' using 5 title "locked (min_idle 1)", '' using 6 title "hand-written"
set title "wait + Put p99, ms (log scale): time in the pool's calls"
plot data using 7:xtic(1) title "parked (default)", '' using 8 title "locked (min_idle 1)", '' using 9 title "hand-written"
unset multiplot

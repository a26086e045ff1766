"""Media prewarm: score, priority queue, download cache, destinations, one prewarm run.

Pure modules (`score`, `queue`, `rules`) have no Faust, network or clock imports;
`cache`, `destinations` and `prewarm` do I/O through clients handed to them;
`service` owns the long-lived clients and the scheduler of one worker.
"""

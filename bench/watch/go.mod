module example.com/watchbench

go 1.21

module example.com/benchvalues

go 1.21

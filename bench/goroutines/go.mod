module example.com/benchgoroutines

go 1.21

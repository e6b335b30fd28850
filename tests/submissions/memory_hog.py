before = 1
hog = []
while True:
    hog.append([0.0] * 10**7)

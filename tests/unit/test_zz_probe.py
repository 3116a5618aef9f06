from tests.fakes import X

def test_x():
    assert X == 1

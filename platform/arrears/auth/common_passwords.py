"""What people in China choose as passwords, beside the English lists zxcvbn holds.

Taken from the published analyses of the large Chinese leaks (the 2011 CSDN, Tianya and 7k7k
dumps, the 2014 12306 list) and the pinyin most used in them: whole passwords, and the stems that
are refused with nothing but digits or symbols after them (``woaini1314``, ``zhangwei123456``,
``Admin@123``). zxcvbn knows English words, names and keyboard walks, not these.
"""

from __future__ import annotations

WHOLE = frozenset(
    """
    123456789 12345678 11111111 dearbook 00000000 123123123 1234567890 88888888 111111111 147258369
    987654321 aaaaaaaa 1111111111 66666666 a123456789 11223344 1qaz2wsx xiazhili 789456123 87654321
    qqqqqqqq 000000000 qwertyuiop qq123456 iloveyou 31415926 12344321 0000000000 asdfghjkl 1q2w3e4r
    123456abc 0123456789 123654789 12121212 qazwsxedc abcd1234 12341234 110110110 asdasdasd 22222222
    123321123 abc123456 a12345678 123456123 a1234567 1234qwer qwertyui 123456789a 5201314 1314520
    7758521 5211314 520520520 1314521 woaini1314 1qaz2wsx3edc 1qaz@wsx 1qaz!qaz qweasdzxc zxcvbnm123
    123qweasd 123qweasdzxc aa123456 aa123456789 aa123456! p@ssw0rd p@ssword passw0rd 147852369
    159357456 741852963 963852741 qwe123456 abc123abc 123abc123 a1b2c3d4 a1b2c3d4e5 iloveyou1314
    woaini520 woaini521 wodemima mima1234
    """.split()  # noqa: SIM905  (a list of words reads best as words)
)

STEMS = frozenset(
    """
    admin administrator root test demo guest user system manager password passwd passw0rd p@ssw0rd
    p@ssword qwerty qwer asdf zxcv abc abcd abcde welcome letmein iloveyou woaini aini wo ai mima
    wodemima nihao huanying qq baidu taobao alipay zhifubao weixin wechat china zhongguo beijing
    shanghai shenzhen guangzhou caishen facai huahua baobao laopo laogong wang li zhang liu chen
    yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo zheng liang xie song tang han feng
    deng cao peng zeng xiao tian dong pan yuan cai jiang yu du ye cheng wei zhangwei wangwei
    wangfang liwei wangxiuying lina zhangmin lijing wangjing liuwei wangli zhangli zhangjing
    lixiuying wangqiang liqiang zhangjie lijun liming wangjun wangyong zhangyong liyong liuyang
    zhangyan wangyan liyan zhangtao wangtao chenjing liujie wanglei lilei zhanglei cuishou jiekuan
    daikuan huankuan yinhang xinyongka
    """.split()  # noqa: SIM905  (a list of words reads best as words)
)
